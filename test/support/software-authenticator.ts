import { createHash, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type {
  AuthenticationExtensionsClientOutputs,
  AuthenticationResponseJSON,
  AuthenticatorAttachment,
  AuthenticatorTransport,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/**
 * A WebAuthn authenticator and the browser in front of it, in software, for tests: it answers the
 * options @simplewebauthn/server generates with the JSON @simplewebauthn/browser would post back,
 * signed with a real P-256 key, so the server's verification runs unmocked.
 *
 * It encodes CBOR and builds authenticator data itself rather than borrowing the server library's
 * helpers: an encoding mistake shared by both sides would otherwise verify happily.
 *
 * Where a browser would refuse (an RP ID the page's origin may not claim, a credential the options
 * exclude, user verification required of an authenticator without it, no ES256 on offer), it throws
 * the DOMException a browser would reject with, so a server that sends such options fails its tests.
 * To put what no honest browser would send in front of the server, pass `tamper`.
 */

const ES256 = -7;
const ZERO_AAGUID = new Uint8Array(16);

const FLAG_USER_PRESENT = 0x01;
const FLAG_USER_VERIFIED = 0x04;
const FLAG_ATTESTED_CREDENTIAL_DATA = 0x40;

export interface SoftwareAuthenticatorSettings {
  /**
   * `none` (the default, what browsers send unless the RP asks for attestation) or `packed` self
   * attestation: the new credential's own key signs the statement, with no certificate chain.
   */
  readonly attestationFormat?: 'none' | 'packed';
  /** Whether the authenticator can verify its user (a PIN, a fingerprint). Default true. */
  readonly userVerification?: boolean;
  /**
   * Whether it keeps a signature counter. Default true; many passkey providers do not, and report 0
   * on every use, which servers must accept.
   */
  readonly countsSignatures?: boolean;
  /** Default `platform`, with transports `['internal', 'hybrid']`; `cross-platform` defaults to `['usb']`. */
  readonly attachment?: AuthenticatorAttachment;
  readonly transports?: readonly AuthenticatorTransport[];
}

/** What no honest browser and authenticator would send: each field replaces the true value. */
export interface Tampering {
  /** The origin written into clientDataJSON (the page's origin is still the one checked against the RP ID). */
  readonly origin?: string;
  /** The RP ID hashed into authenticator data; the browser's check that the origin may claim it is skipped. */
  readonly rpId?: string;
  readonly challenge?: string;
  /** clientDataJSON's `type`, say `webauthn.get` in a registration. */
  readonly type?: string;
  /** The counter reported, say one already seen; the authenticator's own counter does not move. */
  readonly signCount?: number;
  readonly userPresent?: boolean;
  readonly userVerified?: boolean;
  /**
   * Sign bytes other than the ones sent, so the signature is well formed but does not verify. A
   * registration carries a signature only with `packed` attestation; with `none` this does nothing.
   */
  readonly invalidSignature?: boolean;
}

export interface RegisterRequest {
  readonly options: PublicKeyCredentialCreationOptionsJSON;
  /** The origin of the page that calls navigator.credentials.create(). */
  readonly origin: string;
  readonly tamper?: Tampering;
}

export interface AuthenticateRequest {
  readonly options: PublicKeyCredentialRequestOptionsJSON;
  /** The origin of the page that calls navigator.credentials.get(). */
  readonly origin: string;
  /** Which credential the person picks when several fit; otherwise the first one created. */
  readonly credentialId?: string;
  readonly tamper?: Tampering;
}

interface StoredCredential {
  readonly id: Buffer;
  readonly privateKey: KeyObject;
  readonly rpId: string;
  readonly userHandle: string;
  readonly discoverable: boolean;
  signCount: number;
}

export class SoftwareAuthenticator {
  readonly #attestationFormat: 'none' | 'packed';
  readonly #userVerification: boolean;
  readonly #countsSignatures: boolean;
  readonly #attachment: AuthenticatorAttachment;
  readonly #transports: readonly AuthenticatorTransport[];
  readonly #credentials = new Map<string, StoredCredential>();

  constructor(settings: SoftwareAuthenticatorSettings = {}) {
    this.#attestationFormat = settings.attestationFormat ?? 'none';
    this.#userVerification = settings.userVerification ?? true;
    this.#countsSignatures = settings.countsSignatures ?? true;
    this.#attachment = settings.attachment ?? 'platform';
    this.#transports = settings.transports ?? (this.#attachment === 'platform' ? ['internal', 'hybrid'] : ['usb']);
  }

  /** navigator.credentials.create() followed by the credential's toJSON(). */
  async register({ options, origin, tamper = {} }: RegisterRequest): Promise<RegistrationResponseJSON> {
    const rpId = options.rp.id ?? new URL(origin).hostname;
    if (tamper.rpId === undefined) assertOriginMayClaimRpId(origin, rpId);
    if (!options.pubKeyCredParams.some((param) => param.type === 'public-key' && param.alg === ES256)) {
      throw new DOMException('This authenticator only makes ES256 (-7) keys, and the options do not offer it', 'NotSupportedError');
    }
    const excluded = new Set((options.excludeCredentials ?? []).map((descriptor) => descriptor.id));
    for (const credential of this.#credentials.values()) {
      if (credential.rpId === rpId && excluded.has(credential.id.toString('base64url'))) {
        throw new DOMException('The authenticator already holds a credential the options exclude', 'InvalidStateError');
      }
    }
    const userVerified = this.#userVerifies(options.authenticatorSelection?.userVerification);
    const residentKey = options.authenticatorSelection?.residentKey ?? (options.authenticatorSelection?.requireResidentKey ? 'required' : 'discouraged');

    const { privateKey, publicKey } = await generateP256KeyPair();
    const credential: StoredCredential = {
      id: randomCredentialId(),
      privateKey,
      rpId,
      userHandle: options.user.id,
      discoverable: residentKey !== 'discouraged',
      signCount: 0,
    };
    const credentialId = credential.id.toString('base64url');
    this.#credentials.set(credentialId, credential);

    const clientDataJSON = clientData('webauthn.create', options.challenge, origin, tamper);
    const authenticatorData = Buffer.concat([
      authenticatorDataHeader(tamper.rpId ?? rpId, flags(FLAG_ATTESTED_CREDENTIAL_DATA, userVerified, tamper), this.#nextSignCount(credential, tamper)),
      attestedCredentialData(credential.id, publicKey),
    ]);
    const attestationStatement = new Map<CborValue, CborValue>();
    if (this.#attestationFormat === 'packed') {
      attestationStatement.set('alg', ES256);
      attestationStatement.set('sig', await signAssertion(privateKey, authenticatorData, clientDataJSON, tamper));
    }
    const attestationObject = encodeCbor(
      new Map<CborValue, CborValue>([
        ['fmt', this.#attestationFormat],
        ['attStmt', attestationStatement],
        ['authData', authenticatorData],
      ]),
    );

    const clientExtensionResults: AuthenticationExtensionsClientOutputs = {};
    if (options.extensions?.credProps) clientExtensionResults.credProps = { rk: credential.discoverable };
    return {
      id: credentialId,
      rawId: credentialId,
      type: 'public-key',
      authenticatorAttachment: this.#attachment,
      clientExtensionResults,
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        attestationObject: attestationObject.toString('base64url'),
        authenticatorData: authenticatorData.toString('base64url'),
        transports: [...this.#transports],
        publicKeyAlgorithm: ES256,
        publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64url'),
      },
    };
  }

  /** navigator.credentials.get() followed by the credential's toJSON(). */
  async authenticate({ options, origin, credentialId, tamper = {} }: AuthenticateRequest): Promise<AuthenticationResponseJSON> {
    const rpId = options.rpId ?? new URL(origin).hostname;
    if (tamper.rpId === undefined) assertOriginMayClaimRpId(origin, rpId);
    const credential = this.#pickCredential(rpId, options.allowCredentials?.map((descriptor) => descriptor.id) ?? [], credentialId);
    const userVerified = this.#userVerifies(options.userVerification);

    const clientDataJSON = clientData('webauthn.get', options.challenge, origin, tamper);
    const authenticatorData = authenticatorDataHeader(tamper.rpId ?? rpId, flags(0, userVerified, tamper), this.#nextSignCount(credential, tamper));
    const signature = await signAssertion(credential.privateKey, authenticatorData, clientDataJSON, tamper);

    const id = credential.id.toString('base64url');
    return {
      id,
      rawId: id,
      type: 'public-key',
      authenticatorAttachment: this.#attachment,
      clientExtensionResults: {},
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authenticatorData.toString('base64url'),
        signature: signature.toString('base64url'),
        // Authenticators return the user handle only for credentials they store (discoverable ones).
        ...(credential.discoverable ? { userHandle: credential.userHandle } : {}),
      },
    };
  }

  /** The counter as the authenticator holds it, for asserting what the server should have stored. */
  signCountOf(credentialId: string): number {
    const credential = this.#credentials.get(credentialId);
    if (!credential) throw new Error(`This authenticator holds no credential ${credentialId}`);
    return credential.signCount;
  }

  #pickCredential(rpId: string, allowed: readonly string[], chosenId: string | undefined): StoredCredential {
    const candidates = [...this.#credentials.values()].filter(
      (credential) =>
        credential.rpId === rpId && (allowed.length > 0 ? allowed.includes(credential.id.toString('base64url')) : credential.discoverable),
    );
    const picked = chosenId === undefined ? candidates[0] : candidates.find((credential) => credential.id.toString('base64url') === chosenId);
    if (!picked) throw new DOMException(`No credential for ${rpId} on this authenticator fits the request`, 'NotAllowedError');
    return picked;
  }

  #userVerifies(requirement: string | undefined): boolean {
    if (requirement === 'required' && !this.#userVerification) {
      throw new DOMException('User verification is required and this authenticator cannot verify its user', 'NotAllowedError');
    }
    // Real authenticators may verify even when discouraged; doing exactly what was asked makes a
    // server that asks for less than it later requires fail its tests instead of passing by luck.
    return this.#userVerification && requirement !== 'discouraged';
  }

  #nextSignCount(credential: StoredCredential, tamper: Tampering): number {
    if (tamper.signCount !== undefined) return tamper.signCount;
    if (!this.#countsSignatures) return 0;
    credential.signCount += 1;
    return credential.signCount;
  }
}

/**
 * What a browser checks before it lets a page use an RP ID: a secure context, a domain rather than
 * an IP address, and the RP ID equal to the origin's host or a parent domain of it. (Browsers also
 * refuse public suffixes such as `com`; tests have no need of that check.)
 */
function assertOriginMayClaimRpId(origin: string, rpId: string): void {
  const { protocol, hostname } = new URL(origin);
  const isLocalhost = hostname === 'localhost' || hostname.endsWith('.localhost');
  if (protocol !== 'https:' && !(protocol === 'http:' && isLocalhost)) {
    throw new DOMException(`${origin} is not a secure context; WebAuthn needs https (or http on localhost)`, 'SecurityError');
  }
  if (isIP(hostname.replace(/^\[|\]$/g, '')) !== 0) {
    throw new DOMException(`Browsers do not offer WebAuthn on an IP address (${origin}); use localhost`, 'SecurityError');
  }
  if (hostname !== rpId && !hostname.endsWith(`.${rpId}`)) {
    throw new DOMException(`The RP ID ${rpId} is not ${hostname} or a parent domain of it`, 'SecurityError');
  }
}

/** The collected client data, serialized in the order Chromium writes it. */
function clientData(type: string, challenge: string, origin: string, tamper: Tampering): Buffer {
  return Buffer.from(
    JSON.stringify({
      type: tamper.type ?? type,
      challenge: tamper.challenge ?? challenge,
      origin: tamper.origin ?? new URL(origin).origin,
      crossOrigin: false,
    }),
  );
}

function flags(base: number, userVerified: boolean, tamper: Tampering): number {
  let value = base;
  if (tamper.userPresent ?? true) value |= FLAG_USER_PRESENT;
  if (tamper.userVerified ?? userVerified) value |= FLAG_USER_VERIFIED;
  return value;
}

/** rpIdHash (32 bytes), flags (1), signCount (4, big-endian): the part every authenticatorData has. */
function authenticatorDataHeader(rpId: string, flagBits: number, signCount: number): Buffer {
  const header = Buffer.alloc(37);
  createHash('sha256').update(rpId).digest().copy(header, 0);
  header.writeUInt8(flagBits, 32);
  header.writeUInt32BE(signCount, 33);
  return header;
}

/** AAGUID (zeros: a software authenticator claims no make or model), credential id, COSE key. */
function attestedCredentialData(credentialId: Buffer, publicKey: KeyObject): Buffer {
  const idLength = Buffer.alloc(2);
  idLength.writeUInt16BE(credentialId.length);
  return Buffer.concat([ZERO_AAGUID, idLength, credentialId, coseEs256PublicKey(publicKey)]);
}

/** RFC 9053 EC2 key: kty 2 (EC2), alg -7 (ES256), crv 1 (P-256), x, y. */
function coseEs256PublicKey(publicKey: KeyObject): Buffer {
  const { x, y } = publicKey.export({ format: 'jwk' });
  if (x === undefined || y === undefined) throw new Error('The P-256 public key exported without coordinates');
  return encodeCbor(
    new Map<CborValue, CborValue>([
      [1, 2],
      [3, ES256],
      [-1, 1],
      [-2, Buffer.from(x, 'base64url')],
      [-3, Buffer.from(y, 'base64url')],
    ]),
  );
}

/**
 * An ES256 signature over authenticatorData ‖ sha256(clientDataJSON), DER-encoded as WebAuthn
 * requires (node:crypto's default for EC keys). A tampered signature signs one altered byte: still
 * valid DER, so the server has to reject it on the mathematics rather than on the parsing.
 */
async function signAssertion(privateKey: KeyObject, authenticatorData: Buffer, clientDataJSON: Buffer, tamper: Tampering): Promise<Buffer> {
  const signed = Buffer.concat([authenticatorData, createHash('sha256').update(clientDataJSON).digest()]);
  if (tamper.invalidSignature) signed[0] = signed[0]! ^ 0xff;
  return new Promise((resolve, reject) => {
    sign('sha256', signed, privateKey, (error, signature) => (error ? reject(error) : resolve(signature)));
  });
}

function generateP256KeyPair(): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return new Promise((resolve, reject) => {
    generateKeyPair('ec', { namedCurve: 'P-256' }, (error, publicKey, privateKey) => (error ? reject(error) : resolve({ publicKey, privateKey })));
  });
}

function randomCredentialId(): Buffer {
  // 32 random bytes, as most authenticators use; the server must treat the id as opaque bytes.
  return randomBytes(32);
}

/**
 * The slice of CBOR (RFC 8949) that attestation objects and COSE keys use: integers, byte and text
 * strings, maps. Lengths and integers take their shortest form, as CTAP2 requires; map entries keep
 * the order given.
 */
type CborValue = number | string | Uint8Array | Map<CborValue, CborValue>;

function encodeCbor(value: CborValue): Buffer {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`This CBOR encoder only writes integers, not ${value}`);
    return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value);
  }
  if (typeof value === 'string') {
    const utf8 = Buffer.from(value, 'utf8');
    return Buffer.concat([cborHead(3, utf8.length), utf8]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([cborHead(2, value.length), value]);
  const entries = [...value].flatMap(([key, entryValue]) => [encodeCbor(key), encodeCbor(entryValue)]);
  return Buffer.concat([cborHead(5, value.size), ...entries]);
}

function cborHead(majorType: number, argument: number): Buffer {
  const type = majorType << 5;
  if (argument < 24) return Buffer.from([type | argument]);
  if (argument < 0x100) return Buffer.from([type | 24, argument]);
  if (argument < 0x10000) {
    const head = Buffer.from([type | 25, 0, 0]);
    head.writeUInt16BE(argument, 1);
    return head;
  }
  if (argument < 0x100000000) {
    const head = Buffer.from([type | 26, 0, 0, 0, 0]);
    head.writeUInt32BE(argument, 1);
    return head;
  }
  throw new Error(`This CBOR encoder stops at 32-bit lengths and integers, not ${argument}`);
}
