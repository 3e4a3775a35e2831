// Passkeys: runs the browser's WebAuthn ceremony for a form marked data-passkey="create" (add
// a passkey) or "get" (sign in with one), puts the browser's answer in the form's hidden
// "credential" field as JSON and sends the form; the server checks everything.
//
// The options come from the page (data-options, made by the server with a fresh challenge),
// with binary values in base64url, converted here by hand: nothing is loaded from elsewhere.
// Where the browser cannot use passkeys the forms stay hidden and the page's other ways in
// (a code, a recovery code, a password) are what people see.

const supported = typeof window.PublicKeyCredential === "function" &&
  !!navigator.credentials;

function fromBase64url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), "="));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

function toBase64url(buffer) {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const withIds = (list) => (list || []).map((item) => ({ ...item, id: fromBase64url(item.id) }));

function creationOptions(json) {
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

function requestOptions(json) {
  return { ...json, challenge: fromBase64url(json.challenge),
           allowCredentials: withIds(json.allowCredentials) };
}

// The credential as the JSON py_webauthn reads (the shape of WebAuthn's toJSON()).
function credentialJSON(credential) {
  const answer = credential.response;
  const response = { clientDataJSON: toBase64url(answer.clientDataJSON) };
  if (answer.attestationObject) {
    response.attestationObject = toBase64url(answer.attestationObject);
    response.transports = typeof answer.getTransports === "function" ? answer.getTransports() : [];
  } else {
    response.authenticatorData = toBase64url(answer.authenticatorData);
    response.signature = toBase64url(answer.signature);
    if (answer.userHandle) response.userHandle = toBase64url(answer.userHandle);
  }
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
  if (credential.authenticatorAttachment) {
    json.authenticatorAttachment = credential.authenticatorAttachment;
  }
  return JSON.stringify(json);
}

function explain(error, mode) {
  if (error && error.name === "NotAllowedError") {
    return "The passkey request was cancelled or timed out. Try again when you're ready.";
  }
  if (error && error.name === "InvalidStateError" && mode === "create") {
    return "This device already holds a passkey for your account.";
  }
  return "Your browser couldn't use a passkey here. Try again, or use another way in.";
}

function enhance(form) {
  const mode = form.dataset.passkey;
  const options = JSON.parse(form.dataset.options);
  const message = form.querySelector("[data-passkey-message]");
  const button = form.querySelector('button[type="submit"]');
  const remember = form.dataset.rememberFrom
    ? document.getElementById(form.dataset.rememberFrom) : null;
  form.hidden = false;

  form.addEventListener("submit", async (event) => {
    // Adding a passkey without a name: let the server say so, next to the field.
    if (mode === "create" && !form.elements.name.value.trim()) return;
    event.preventDefault();
    message.textContent = "";
    button.disabled = true;
    try {
      const credential = mode === "create"
        ? await navigator.credentials.create({ publicKey: creationOptions(options) })
        : await navigator.credentials.get({ publicKey: requestOptions(options) });
      form.elements.credential.value = credentialJSON(credential);
      if (remember && form.elements.remember) {
        form.elements.remember.value = remember.checked ? "y" : "";
      }
      form.submit();
    } catch (error) {
      message.textContent = explain(error, mode);
      button.disabled = false;
    }
  });
}

if (supported) {
  for (const note of document.querySelectorAll("[data-passkey-unsupported]")) note.hidden = true;
  for (const form of document.querySelectorAll("form[data-passkey]")) enhance(form);
}
