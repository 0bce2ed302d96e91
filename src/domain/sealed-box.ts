import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption of small secrets at rest (signing keys) with MASTER_KEY: AES-256-GCM,
 * a fresh 96-bit nonce per message. Format: `v1.<nonce>.<tag>.<ciphertext>`, base64url parts. The
 * label is bound as additional data so that a sealed value cannot be moved to another purpose.
 */
export function seal(masterKey: Buffer, label: string, plaintext: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, nonce);
  cipher.setAAD(Buffer.from(label, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', nonce, cipher.getAuthTag(), ciphertext].map((part) =>
    typeof part === 'string' ? part : part.toString('base64url')).join('.');
}

export class UnsealError extends Error {
  override name = 'UnsealError';
}

export function unseal(masterKey: Buffer, label: string, sealed: string): string {
  const [version, nonce, tag, ciphertext] = sealed.split('.');
  if (version !== 'v1' || !nonce || !tag || ciphertext === undefined) {
    throw new UnsealError('not a sealed value');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', masterKey, Buffer.from(nonce, 'base64url'));
    decipher.setAAD(Buffer.from(label, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new UnsealError('cannot decrypt: wrong MASTER_KEY, or the value was altered', { cause: error });
  }
}
