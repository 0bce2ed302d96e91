import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { seal, UnsealError, unseal } from '../../src/domain/sealed-box.ts';

const masterKey = randomBytes(32);
const label = 'signing-key:abc';
const plaintext = '{"kty":"EC","d":"private part — bí mật"}';

/** Flips one bit of one byte of the ciphertext part, keeping the format intact. */
function flipCiphertextByte(sealed: string): string {
  const [version, nonce, tag, ciphertext] = sealed.split('.');
  const bytes = Buffer.from(ciphertext!, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  return [version, nonce, tag, bytes.toString('base64url')].join('.');
}

describe('seal and unseal', () => {
  it('round-trips a UTF-8 plaintext without leaving it readable in the sealed value', () => {
    const sealed = seal(masterKey, label, plaintext);
    expect(sealed.startsWith('v1.')).toBe(true);
    expect(sealed).not.toContain('private part');
    expect(unseal(masterKey, label, sealed)).toBe(plaintext);
  });

  it('round-trips an empty plaintext', () => {
    expect(unseal(masterKey, label, seal(masterKey, label, ''))).toBe('');
  });

  it('gives two different sealed values for the same plaintext (fresh nonce each time)', () => {
    const first = seal(masterKey, label, plaintext);
    const second = seal(masterKey, label, plaintext);
    expect(first).not.toBe(second);
    expect(first.split('.')[1]).not.toBe(second.split('.')[1]);
  });

  it('refuses a value whose ciphertext was altered by one bit', () => {
    const tampered = flipCiphertextByte(seal(masterKey, label, plaintext));
    expect(() => unseal(masterKey, label, tampered)).toThrow(UnsealError);
  });

  it('refuses a value moved to another purpose (the wrong label)', () => {
    const sealed = seal(masterKey, label, plaintext);
    expect(() => unseal(masterKey, 'signing-key:another', sealed)).toThrow(UnsealError);
  });

  it('refuses to open a value with the wrong key', () => {
    const sealed = seal(masterKey, label, plaintext);
    expect(() => unseal(randomBytes(32), label, sealed)).toThrow(UnsealError);
  });

  it.each([
    ['an empty string', ''],
    ['plain text', 'not sealed at all'],
    ['an unknown version', 'v2.AAAA.AAAA.AAAA'],
    ['missing parts', 'v1.AAAA'],
  ])('refuses %s as not a sealed value', (_description, value) => {
    expect(() => unseal(masterKey, label, value)).toThrow(UnsealError);
  });
});
