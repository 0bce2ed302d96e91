// Passkeys for Mekong ID. A form marked data-webauthn="create" or "get" carries the server's options
// in data-options; this asks the browser for the credential, puts its JSON in the hidden "response"
// field and submits. Without WebAuthn support (or without JavaScript) the form stays hidden and the
// page's other ways of signing in remain.
'use strict';

const supported = typeof window.PublicKeyCredential === 'function'
  && typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function'
  && typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function';

for (const form of document.querySelectorAll('form[data-webauthn]')) {
  if (!supported) continue;
  form.hidden = false;
  form.addEventListener('submit', async (event) => {
    if (form.elements.response.value) return;
    event.preventDefault();
    const options = JSON.parse(form.dataset.options);
    const error = form.querySelector('.webauthn-error');
    if (error) error.hidden = true;
    try {
      const credential = form.dataset.webauthn === 'create'
        ? await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
        : await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
      form.elements.response.value = JSON.stringify(credential.toJSON());
      form.submit();
    } catch {
      if (error) error.hidden = false;
    }
  });
}
