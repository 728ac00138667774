import { fromCallback } from 'xstate';
import type { ProcessEvent } from '../../machines/session.types.js';
import type { ProcessLogic, ProcessSettings } from '../../src/index.js';
import { pythonProcess } from '../../src/process/python-process.js';

/**
 * Real Python processes whose session actors can be made to throw, standing in for a bug in
 * PyREPL3: `throwIn(sessionId)` hands the session an actor error whose description throws, so the
 * session's own transition throws (as in test/model/pool.model.test.ts).
 */
export class SessionFaults {
  readonly #throwers = new Map<string, () => void>();

  /** For the pool's runtime: `makePool(options, { processActor: faults.processActor })`. */
  readonly processActor = (settings: ProcessSettings): ProcessLogic => {
    const body = pythonProcess(settings);
    return fromCallback((scope) => {
      const error = {
        toString: (): string => {
          throw new Error('a session actor bug');
        },
      };
      this.#throwers.set(scope.input.sessionId, () =>
        scope.sendBack({ type: 'xstate.error.actor.process', error } as unknown as ProcessEvent),
      );
      return body(scope);
    });
  };

  /** Makes the session actor of `sessionId` throw. */
  throwIn(sessionId: string): void {
    const thrower = this.#throwers.get(sessionId);
    if (thrower === undefined) throw new Error(`no process of session ${sessionId}`);
    thrower();
  }
}
