/**
 * HindsightError is the one error class of the project: a stable `code` to branch on,
 * a `hint` that tells the operator what to do next, and the `cause` it wraps.
 * Codes are listed in docs/errors.md.
 */
export class HindsightError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'HindsightError';
    this.code = code;
    this.hint = options.hint;
  }
}

/** isHindsightError tells whether `err` carries a stable code, optionally a specific one. */
export function isHindsightError(err: unknown, code?: string): err is HindsightError {
  return err instanceof HindsightError && (code === undefined || err.code === code);
}

/** errorMessage renders any thrown value as one line for logs and events. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
