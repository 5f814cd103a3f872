/** Credentials per provider, URL handling and the classification/redaction of git failures. */
import { describe, expect, it } from 'vitest';
import { authForUrl, credentialsFromUrl, stripCredentials } from '../../container/runner/git/index.ts';
import { classifyGitFailure, gitError, redactorFor } from '../../container/runner/git/errors.ts';

describe('authForUrl', () => {
  it('follows the provider conventions for a token', () => {
    expect(authForUrl('https://github.com/o/r.git', 'tok1234')).toEqual({
      username: 'x-access-token',
      password: 'tok1234',
    });
    expect(authForUrl('https://gitlab.com/o/r.git', 'tok1234')).toEqual({
      username: 'oauth2',
      password: 'tok1234',
    });
    expect(authForUrl('https://gitlab.example.com/o/r.git', 'tok1234')).toEqual({
      username: 'oauth2',
      password: 'tok1234',
    });
    expect(authForUrl('https://bitbucket.org/o/r.git', 'tok1234')).toEqual({
      username: 'x-token-auth',
      password: 'tok1234',
    });
    expect(authForUrl('https://gitea.example.com/o/r.git', 'tok1234')).toEqual({
      username: 'git',
      password: 'tok1234',
    });
    expect(authForUrl('https://gitea.example.com/o/r.git', 'tok1234', 'bot')).toEqual({
      username: 'bot',
      password: 'tok1234',
    });
    expect(authForUrl('https://github.com/o/r.git', 'tok1234', 'me')).toEqual({
      username: 'me',
      password: 'tok1234',
    });
  });

  it('returns undefined without a token or embedded credentials', () => {
    expect(authForUrl('https://github.com/o/r.git', undefined)).toBeUndefined();
    expect(authForUrl('https://github.com/o/r.git', '')).toBeUndefined();
  });

  it('honours credentials embedded in the URL', () => {
    expect(authForUrl('https://u:p%40ss@git.example.com/r.git', 'other')).toEqual({
      username: 'u',
      password: 'p@ss',
    });
    expect(authForUrl('https://ghp_abcdef@github.com/o/r.git', undefined)).toEqual({
      username: 'x-access-token',
      password: 'ghp_abcdef',
    });
    expect(authForUrl('https://bot@git.example.com/r.git', 'tok1234')).toEqual({
      username: 'bot',
      password: 'tok1234',
    });
    expect(credentialsFromUrl('https://git.example.com/r.git')).toBeUndefined();
  });

  it('strips credentials from URLs', () => {
    expect(stripCredentials('https://u:secret@git.example.com:8443/r.git')).toBe(
      'https://git.example.com:8443/r.git',
    );
    expect(stripCredentials('https://github.com/o/r.git')).toBe('https://github.com/o/r.git');
    expect(stripCredentials('not a url')).toBe('not a url');
  });
});

describe('git failures', () => {
  it('are classified from git and isomorphic-git messages', () => {
    expect(classifyGitFailure("fatal: Authentication failed for 'http://h/r.git/'")).toBe('GIT_AUTH');
    expect(classifyGitFailure('fatal: could not read Username for ...: terminal prompts disabled')).toBe(
      'GIT_AUTH',
    );
    expect(classifyGitFailure('HttpError: HTTP Error: 403 Forbidden')).toBe('GIT_AUTH');
    expect(classifyGitFailure("fatal: repository 'http://h/x.git/' not found")).toBe('GIT_NOT_FOUND');
    expect(classifyGitFailure('fatal: Remote branch nope not found in upstream origin')).toBe(
      'GIT_NOT_FOUND',
    );
    expect(classifyGitFailure("fatal: couldn't find remote ref refs/heads/nope")).toBe('GIT_NOT_FOUND');
    expect(classifyGitFailure('error: unable to write file')).toBe('GIT_FAILED');
  });

  it('never carry the credentials in their message', () => {
    const auth = { username: 'u', password: 'hunter2-secret' };
    const err = gitError(
      'cloning https://u:hunter2-secret@h/r.git',
      "fatal: unable to access 'https://u:hunter2-secret@h/r.git/': password hunter2-secret",
      redactorFor(auth),
      { cause: new Error('hunter2-secret') },
    );
    expect(err.code).toBe('GIT_FAILED');
    expect(err.message).not.toContain('hunter2-secret');
    expect(String((err.cause as Error).message)).not.toContain('hunter2-secret');
  });
});
