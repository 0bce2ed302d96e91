import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type WebAuthnCredential,
} from '@simplewebauthn/server';
import { describe, expect, it } from 'vitest';
import { SoftwareAuthenticator, type SoftwareAuthenticatorSettings, type Tampering } from './software-authenticator.ts';

const RP_ID = 'id.mekong.test';
const ORIGIN = 'https://id.mekong.test';
// ES256 and RS256 only: the library's default adds ML-DSA-44 whenever Node offers it, which Node 24
// does behind an experimental warning.
const SUPPORTED_ALGORITHMS = [-7, -257];

async function registrationOptions(overrides: Partial<Parameters<typeof generateRegistrationOptions>[0]> = {}) {
  return generateRegistrationOptions({
    rpName: 'Mekong ID',
    rpID: RP_ID,
    userName: 'nguyen.van.an',
    userID: new TextEncoder().encode('user-42'),
    supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
    // Always a fresh object: the library's default selection is one shared object that it mutates.
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    ...overrides,
  });
}

/** Registers a new credential on the authenticator and returns it as the server would store it. */
async function registeredCredential(authenticator: SoftwareAuthenticator): Promise<WebAuthnCredential> {
  const options = await registrationOptions();
  const response = await authenticator.register({ options, origin: ORIGIN });
  const verification = await verifyRegistrationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
  });
  if (!verification.verified) throw new Error('The registration did not verify');
  return verification.registrationInfo.credential;
}

async function registerWith(settings: SoftwareAuthenticatorSettings, tamper?: Tampering) {
  const options = await registrationOptions();
  const response = await new SoftwareAuthenticator(settings).register({ options, origin: ORIGIN, ...(tamper ? { tamper } : {}) });
  return verifyRegistrationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
  });
}

async function authenticateWith(authenticator: SoftwareAuthenticator, credential: WebAuthnCredential, tamper?: Tampering) {
  const options = await generateAuthenticationOptions({ rpID: RP_ID, allowCredentials: [{ id: credential.id }] });
  const response = await authenticator.authenticate({ options, origin: ORIGIN, ...(tamper ? { tamper } : {}) });
  return verifyAuthenticationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    credential,
  });
}

describe('registration', () => {
  it('produces a "none" attestation that verifyRegistrationResponse accepts', async () => {
    const options = await registrationOptions();
    const response = await new SoftwareAuthenticator().register({ options, origin: ORIGIN });

    const verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: options.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
      supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
    });

    expect(verification.verified).toBe(true);
    expect(verification.registrationInfo).toMatchObject({
      fmt: 'none',
      aaguid: '00000000-0000-0000-0000-000000000000',
      userVerified: true,
      origin: ORIGIN,
      rpID: RP_ID,
      credential: { id: response.id, counter: 1, transports: ['internal', 'hybrid'] },
    });
    expect(response.clientExtensionResults).toEqual({ credProps: { rk: true } });
  });

  it('produces a "packed" self attestation that verifyRegistrationResponse accepts', async () => {
    const verification = await registerWith({ attestationFormat: 'packed' });

    expect(verification.verified).toBe(true);
    expect(verification.registrationInfo?.fmt).toBe('packed');
  });

  it('registers on http://localhost, where browsers allow WebAuthn without TLS', async () => {
    const options = await generateRegistrationOptions({ rpName: 'Mekong ID', rpID: 'localhost', userName: 'an', supportedAlgorithmIDs: SUPPORTED_ALGORITHMS });
    const response = await new SoftwareAuthenticator().register({ options, origin: 'http://localhost:4000' });

    const verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: options.challenge,
      expectedOrigin: 'http://localhost:4000',
      expectedRPID: 'localhost',
      supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
    });

    expect(verification.verified).toBe(true);
  });

  it('is rejected when clientDataJSON names another origin', async () => {
    await expect(registerWith({}, { origin: 'https://id.mekong.test.evil.example' })).rejects.toThrow(/Unexpected registration response origin/);
  });

  it('is rejected when authenticator data was made for another RP ID', async () => {
    await expect(registerWith({}, { rpId: 'evil.example' })).rejects.toThrow(/Unexpected RP ID hash/);
  });

  it('is rejected when it answers another challenge', async () => {
    await expect(registerWith({}, { challenge: 'b2xkLWNoYWxsZW5nZQ' })).rejects.toThrow(/Unexpected registration response challenge/);
  });

  it('is rejected when clientDataJSON is of an assertion', async () => {
    await expect(registerWith({}, { type: 'webauthn.get' })).rejects.toThrow(/Unexpected registration response type/);
  });

  it('is not verified when the packed attestation signature is wrong', async () => {
    const verification = await registerWith({ attestationFormat: 'packed' }, { invalidSignature: true });

    expect(verification.verified).toBe(false);
  });

  it('is rejected without user verification, which the library requires by default', async () => {
    await expect(registerWith({ userVerification: false })).rejects.toThrow(/User verification was required/);
  });

  it('is rejected without user presence', async () => {
    await expect(registerWith({}, { userPresent: false })).rejects.toThrow(/User presence was required/);
  });
});

describe('authentication', () => {
  it('produces an assertion that verifyAuthenticationResponse accepts with the stored credential', async () => {
    const authenticator = new SoftwareAuthenticator();
    const credential = await registeredCredential(authenticator);

    const verification = await authenticateWith(authenticator, credential);

    expect(verification.verified).toBe(true);
    expect(verification.authenticationInfo).toMatchObject({ credentialID: credential.id, newCounter: 2, userVerified: true, origin: ORIGIN, rpID: RP_ID });
  });

  it('increments the signature counter on every use', async () => {
    const authenticator = new SoftwareAuthenticator();
    const credential = await registeredCredential(authenticator);

    const first = await authenticateWith(authenticator, credential);
    const second = await authenticateWith(authenticator, { ...credential, counter: first.authenticationInfo.newCounter });

    expect([credential.counter, first.authenticationInfo.newCounter, second.authenticationInfo.newCounter]).toEqual([1, 2, 3]);
    expect(authenticator.signCountOf(credential.id)).toBe(3);
  });

  it('is accepted from an authenticator that keeps no counter and always reports 0', async () => {
    const authenticator = new SoftwareAuthenticator({ countsSignatures: false });
    const credential = await registeredCredential(authenticator);

    const verification = await authenticateWith(authenticator, credential);

    expect(credential.counter).toBe(0);
    expect(verification).toMatchObject({ verified: true, authenticationInfo: { newCounter: 0 } });
  });

  it('finds a discoverable credential without allowCredentials and returns the user handle', async () => {
    const authenticator = new SoftwareAuthenticator();
    const registrationOptionsSent = await registrationOptions();
    await authenticator.register({ options: registrationOptionsSent, origin: ORIGIN });
    const options = await generateAuthenticationOptions({ rpID: RP_ID });

    const response = await authenticator.authenticate({ options, origin: ORIGIN });

    expect(response.response.userHandle).toBe(registrationOptionsSent.user.id);
  });

  it('is rejected when clientDataJSON names another origin', async () => {
    const authenticator = new SoftwareAuthenticator();
    const credential = await registeredCredential(authenticator);

    await expect(authenticateWith(authenticator, credential, { origin: 'https://evil.example' })).rejects.toThrow(/Unexpected authentication response origin/);
  });

  it('is rejected when authenticator data was made for another RP ID', async () => {
    const authenticator = new SoftwareAuthenticator();
    const credential = await registeredCredential(authenticator);

    await expect(authenticateWith(authenticator, credential, { rpId: 'evil.example' })).rejects.toThrow(/Unexpected RP ID hash/);
  });

  it('is not verified when the signature is wrong', async () => {
    const authenticator = new SoftwareAuthenticator();
    const credential = await registeredCredential(authenticator);

    const verification = await authenticateWith(authenticator, credential, { invalidSignature: true });

    expect(verification.verified).toBe(false);
  });

  it('is rejected when the counter replays one already seen, as from a cloned authenticator', async () => {
    const authenticator = new SoftwareAuthenticator();
    const credential = await registeredCredential(authenticator);
    const { authenticationInfo } = await authenticateWith(authenticator, credential);

    await expect(
      authenticateWith(authenticator, { ...credential, counter: authenticationInfo.newCounter }, { signCount: authenticationInfo.newCounter }),
    ).rejects.toThrow(/Response counter value 2 was lower than expected 2/);
  });

  it('is not verified when signed by a credential other than the stored one', async () => {
    const credential = await registeredCredential(new SoftwareAuthenticator());
    const otherAuthenticator = new SoftwareAuthenticator();
    const otherCredential = await registeredCredential(otherAuthenticator);
    const options = await generateAuthenticationOptions({ rpID: RP_ID, allowCredentials: [{ id: otherCredential.id }] });
    const response = await otherAuthenticator.authenticate({ options, origin: ORIGIN });

    // The library does not compare response.id with credential.id: the server must look the
    // credential up by response.id itself. With the wrong key, only the signature check stops it.
    const verification = await verifyAuthenticationResponse({ response, expectedChallenge: options.challenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID, credential });

    expect(verification.verified).toBe(false);
  });

  it('is rejected without user verification, which the library requires by default', async () => {
    const authenticator = new SoftwareAuthenticator();
    const credential = await registeredCredential(authenticator);

    await expect(authenticateWith(authenticator, credential, { userVerified: false })).rejects.toThrow(/User verification required/);
  });
});

describe('what a browser refuses before the server sees anything', () => {
  it('refuses an RP ID that the page origin may not claim', async () => {
    const options = await registrationOptions();

    await expect(new SoftwareAuthenticator().register({ options, origin: 'https://evil.example' })).rejects.toMatchObject({ name: 'SecurityError' });
  });

  it('refuses WebAuthn on an IP address', async () => {
    const options = await generateRegistrationOptions({ rpName: 'Mekong ID', rpID: '127.0.0.1', userName: 'an', supportedAlgorithmIDs: SUPPORTED_ALGORITHMS });

    await expect(new SoftwareAuthenticator().register({ options, origin: 'http://127.0.0.1:4000' })).rejects.toMatchObject({ name: 'SecurityError' });
  });

  it('refuses to register a second credential on an authenticator the options exclude', async () => {
    const authenticator = new SoftwareAuthenticator();
    const credential = await registeredCredential(authenticator);
    const options = await registrationOptions({ excludeCredentials: [{ id: credential.id }] });

    await expect(authenticator.register({ options, origin: ORIGIN })).rejects.toMatchObject({ name: 'InvalidStateError' });
  });

  it('refuses required user verification on an authenticator without it', async () => {
    const options = await registrationOptions({ authenticatorSelection: { userVerification: 'required' } });

    await expect(new SoftwareAuthenticator({ userVerification: false }).register({ options, origin: ORIGIN })).rejects.toMatchObject({
      name: 'NotAllowedError',
    });
  });

  it('finds no credential to sign with when allowCredentials names only others', async () => {
    const authenticator = new SoftwareAuthenticator();
    await registeredCredential(authenticator);
    const options = await generateAuthenticationOptions({ rpID: RP_ID, allowCredentials: [{ id: 'c29tZW9uZS1lbHNl' }] });

    await expect(authenticator.authenticate({ options, origin: ORIGIN })).rejects.toMatchObject({ name: 'NotAllowedError' });
  });
});
