import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slugify, truncate } from '../src/strings.js';

test('slugify joins words with dashes', () => {
  assert.equal(slugify('Hello, World!'), 'hello-world');
});

test('slugify drops accents', () => {
  assert.equal(slugify('Crème brûlée'), 'creme-brulee');
});

test('truncate keeps short text', () => {
  assert.equal(truncate('short', 10), 'short');
});

test('truncate cuts long text with an ellipsis', () => {
  assert.equal(truncate('a long sentence', 6), 'a lon…');
});
