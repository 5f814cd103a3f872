import { readFileSync } from 'node:fs';
import path from 'node:path';
import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { estimateTokens, fitSections, truncateToTokens } from '../../container/runner/context/budget.ts';
import type { Section } from '../../container/runner/context/budget.ts';
import { systemPrompt } from '../../container/runner/agent/prompt.ts';
import { TOOL_DEFINITIONS } from '../../container/runner/agent/schemas.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

const SAMPLES: Record<string, string> = {
  prose: readFileSync(path.join(ROOT, 'README.md'), 'utf8').slice(0, 20_000),
  code: readFileSync(path.join(ROOT, 'container/runner/pipeline.ts'), 'utf8'),
  tools: JSON.stringify(TOOL_DEFINITIONS),
  system: systemPrompt({ taskId: '1', title: 't', description: 'd', branch: 'feature/x' }),
  paths: Array.from(
    { length: 150 },
    (_, k) =>
      `packages/pkg-${k}/src/components/UserProfileCard${k}.tsx\n  12: export function useProfile(id: string): Profile\n`,
  ).join(''),
  chinese:
    '实现用户登录功能，支持邮箱和手机号两种方式。验收标准：所有测试通过，新增的接口有单元测试覆盖。'.repeat(
      20,
    ),
  japanese: 'ユーザーのログイン機能を実装してください。テストがすべて通ること。'.repeat(20),
  korean: '사용자 로그인 기능을 구현하고 모든 테스트를 통과해야 합니다. '.repeat(20),
  russian: 'Реализовать функцию входа пользователя с поддержкой электронной почты. '.repeat(20),
  emoji: '🚀✨ deploy 🎉 done ✅ '.repeat(30),
  mixed: 'Fix `parse_config` in src/config.ts — 修复空文件时崩溃的问题 (ファイル) ✅\n'.repeat(40),
};

describe('estimateTokens', () => {
  it('errs on the high side of OpenAI tokenizers, by a bounded margin', () => {
    for (const [name, text] of Object.entries(SAMPLES)) {
      const real = Math.max(encodeO200k(text).length, encodeCl100k(text).length);
      const est = estimateTokens(text);
      expect(est, `${name}: estimate ${est} vs ${real}`).toBeGreaterThanOrEqual(real * 0.9);
      expect(est, `${name}: estimate ${est} vs ${real}`).toBeLessThanOrEqual(real * 2.5);
    }
    // Over the kind of text a first request holds, the estimate is not below either tokenizer.
    const request = [SAMPLES.system, SAMPLES.tools, SAMPLES.paths, SAMPLES.code, SAMPLES.mixed].join('\n');
    expect(estimateTokens(request)).toBeGreaterThanOrEqual(encodeO200k(request).length);
    expect(estimateTokens(request)).toBeGreaterThanOrEqual(encodeCl100k(request).length);
  });

  it('counts CJK characters as 1.2 tokens each', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('你好世界')).toBe(5); // 1.2 each
    expect(estimateTokens('テスト')).toBe(4);
    expect(estimateTokens('abcdefg')).toBe(2);
  });
});

describe('truncateToTokens', () => {
  it('never exceeds the budget and never splits a surrogate pair', () => {
    const text = '😀'.repeat(100) + '\n' + 'word '.repeat(200);
    for (const budget of [1, 2, 3, 10, 50, 151, 152, 400]) {
      const cut = truncateToTokens(text, budget);
      expect(estimateTokens(cut)).toBeLessThanOrEqual(budget);
      expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(cut)).toBe(false);
    }
    expect(truncateToTokens('short', 100)).toBe('short');
    expect(truncateToTokens('anything', 0)).toBe('');
  });
});

describe('fitSections', () => {
  const sec = (id: string, priority: number, tokens: number, extra: Partial<Section> = {}): Section => ({
    id,
    title: `the ${id}`,
    priority,
    text: `${id}: ` + 'lorem ipsum dolor sit amet '.repeat(Math.ceil(tokens / 7)),
    ...extra,
  });

  it('keeps everything when it fits', () => {
    const fit = fitSections([sec('a', 1, 50), sec('b', 2, 50)], 1000);
    expect(fit.sections.map((s) => s.fate)).toEqual(['kept', 'kept']);
    expect(fit.text).toMatch(/^a: .*\n\nb: /s);
    expect(fit.tokens).toBeLessThanOrEqual(1000);
  });

  it('cuts the least important first, with a note, and keeps the order', () => {
    const sections = [
      sec('brief', 1, 200),
      sec('map', 4, 600),
      sec('instructions', 2, 300),
      sec('styles', 5, 200),
    ];
    const fit = fitSections(sections, 700);
    expect(fit.tokens).toBeLessThanOrEqual(700);
    const fates = Object.fromEntries(fit.sections.map((s) => [s.id, s.fate]));
    expect(fates).toEqual({ brief: 'kept', map: 'cut', instructions: 'kept', styles: 'dropped' });
    expect(fit.text).toContain('[… the map cut here to stay within the token budget …]');
    expect(fit.text).toMatch(/\[Left out to stay within the 700-token budget: the styles\.\]$/);
    expect(fit.text.indexOf('brief:')).toBeLessThan(fit.text.indexOf('map:'));
    expect(fit.text.indexOf('map:')).toBeLessThan(fit.text.indexOf('instructions:'));
  });

  it('drops what cannot be cut, and never cuts priority-0 untruncatable sections', () => {
    const fit = fitSections(
      [
        sec('header', 0, 20, { truncatable: false }),
        sec('brief', 1, 400),
        sec('map', 4, 400, { truncatable: false }),
      ],
      300,
    );
    const fates = Object.fromEntries(fit.sections.map((s) => [s.id, s.fate]));
    expect(fates).toEqual({ header: 'kept', brief: 'cut', map: 'dropped' });
    expect(fit.tokens).toBeLessThanOrEqual(300);
    expect(fit.text.startsWith('header: ')).toBe(true);
  });

  it('holds even for a tiny budget', () => {
    const fit = fitSections([sec('a', 1, 500), sec('b', 2, 500)], 12);
    expect(fit.tokens).toBeLessThanOrEqual(12);
  });
});
