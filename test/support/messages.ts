/**
 * The user-facing messages the suites expect, written out instead of imported from the product's constants, so that
 * an edit to one of the product's strings fails a test (and is then a deliberate change of both).
 */

/** DRF's ModelChoiceFilter error for a pk that names nothing (authentik's list filters). */
export const INVALID_CHOICE = 'Select a valid choice. That choice is not one of the available choices.';

/** The sign-in page. */
export const INVALID_LOGIN = 'Invalid username or password.';
export const THROTTLED_LOGIN = 'Too many failed sign-in attempts. Wait a few minutes and try again.';
export const FORM_EXPIRED =
  'This form has expired or was not sent by this site. Reload the page and try again.';

/** The device-code entry page. */
export const INVALID_CODE = 'Invalid or expired code. Check the code shown on your device and try again.';
export const THROTTLED_CODE = 'Too many invalid codes. Wait a few minutes and try again.';

/** Start-up with a SECRET_KEY other than the one the database's secrets were sealed with. */
export const SECRET_KEY_MISMATCH = "differs from the key this database's secrets were sealed with";
