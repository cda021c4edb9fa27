// What each kind of failure means for the person in front of the window, and what they can do.
// The daemon's own message is shown under it as detail; it never holds a secret.

import type { ErrorKind, PixyError } from "./api";

const WORDING: Record<ErrorKind, string> = {
  invalid_request: "Pixy did not understand that request.",
  provider_config: "This provider's settings look wrong. Check its entry in providers.toml.",
  discovery: "Could not find how to sign in there. Check the address and your connection.",
  keyring_unavailable:
    "No keyring is available to keep your sign-in safe. Start a Secret Service such as GNOME Keyring, then try again.",
  keyring_locked: "Your keyring is locked. Unlock it, then try again.",
  access_denied: "You declined access in the browser, so nothing was linked.",
  authorization_failed: "The provider turned the sign-in request down.",
  timeout: "The sign-in in the browser took too long. Try again when you are ready.",
  cancelled: "The sign-in was cancelled, so nothing was linked.",
  token_endpoint: "The provider did not accept the sign-in. Try again.",
  resource_refused:
    "The server would not bind the sign-in to this one resource. Linking from the terminal with --no-resource may work.",
  needs_relink: "This account must be connected again.",
  consent_denied: "That program was not allowed to use this account.",
  network: "Could not reach the provider. Check your connection.",
  listener: "Pixy could not listen for the browser's answer on this computer.",
  daemon_unavailable: "Pixy's background service is not running and could not be started.",
  internal: "Something went wrong inside Pixy.",
};

/** A sentence for a person; unknown kinds (a newer daemon) fall back to a general one. */
export function describe(error: PixyError): string {
  return WORDING[error.kind] ?? WORDING.internal;
}
