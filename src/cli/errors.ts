/** Exit codes of the command line: scripts rely on them. */
export const EXIT_OK = 0;
/** The server refused something, or a request failed. */
export const EXIT_REFUSED = 1;
/** The command line itself was wrong: unknown option, bad value, missing credentials. */
export const EXIT_USAGE = 2;

/** An error the command line reports as one message and an exit code, without a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: typeof EXIT_REFUSED | typeof EXIT_USAGE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(message, EXIT_USAGE);
export const failure = (message: string): CliError => new CliError(message, EXIT_REFUSED);
