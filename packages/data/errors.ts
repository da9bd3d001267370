/**
 * A problem with input data: a missing or unreadable file, a malformed
 * header, a truncated file, a corrupt image. The message names the file (or
 * the field) and says what was expected and what was found.
 */
export class DataError extends Error {
  /** The file or folder at fault, when there is one. */
  readonly path?: string;

  /**
   * Creates the error; the message starts with the path when there is one.
   *
   * @param message what is wrong, naming the expected and the actual value
   * @param path the file or folder at fault; prefixed to the message
   * @param options the underlying cause, if any
   */
  constructor(message: string, path?: string, options?: ErrorOptions) {
    super(path ? `${path}: ${message}` : message, options);
    this.name = "DataError";
    this.path = path;
  }
}
