/** Exit code after an interrupt (128 + SIGINT). */
export const INTERRUPTED_EXIT_CODE = 130;

/** Why training stopped early. */
export class InterruptedError extends Error {
  /** Creates the error; `reason` says what asked to stop. */
  constructor(reason: string) {
    super(`interrupted: ${reason}`);
    this.name = "InterruptedError";
  }
}

/** A cooperative stop request shared by every stage of one invocation. */
export interface Interrupt {
  /** Aborted on Ctrl-C or by {@linkcode Interrupt.stop}. */
  readonly signal: AbortSignal;
  /** Asks every stage to stop at its next safe point. */
  stop(reason: string): void;
  /** Throws an InterruptedError if a stop was asked for. */
  throwIfStopped(): void;
  /** Removes the signal listener. */
  dispose(): void;
}

/**
 * Turns Ctrl-C into a cooperative stop: the first SIGINT aborts the signal
 * (stages checkpoint and return); a second one exits at once with code 130.
 */
export function installInterrupt(
  onFirst: (message: string) => void = (m) => console.error(m),
): Interrupt {
  const controller = new AbortController();
  let listening = false;
  const handler = () => {
    if (controller.signal.aborted) {
      Deno.exit(INTERRUPTED_EXIT_CODE);
    }
    onFirst(
      "\ninterrupt: writing a checkpoint, then exiting (press Ctrl-C again to quit at once)",
    );
    controller.abort("SIGINT");
  };
  try {
    Deno.addSignalListener("SIGINT", handler);
    listening = true;
  } catch {
    // Best effort: signals are unsupported here (e.g. some platforms), and
    // Ctrl-C then kills as usual.
  }
  return {
    signal: controller.signal,
    stop: (reason) => {
      if (!controller.signal.aborted) controller.abort(reason);
    },
    throwIfStopped: () => {
      if (controller.signal.aborted) {
        throw new InterruptedError(String(controller.signal.reason));
      }
    },
    dispose: () => {
      if (listening) Deno.removeSignalListener("SIGINT", handler);
      listening = false;
    },
  };
}
