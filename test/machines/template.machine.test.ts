/**
 * The template machine's answers to sessions asking for the spare, beyond what the model checks
 * (test/model/template.model.test.ts): which request a cancel takes out, and why a refused one was
 * refused (the session's process logs the reason and starts a new interpreter).
 */
import { createActor, fromCallback, setup, SimulatedClock, type AnyActorRef } from 'xstate';
import { describe, expect, it } from 'vitest';
import { templateMachine, type SpareAnswer, type TemplateCommand, type TemplateEvent } from '../../machines/template.machine.js';

const INPUT = { backoff: { initialMs: 100, maxMs: 1000 }, startTimeoutMs: 1000, warmupTimeoutMs: 1000, forkTimeoutMs: 300 };

function template() {
  const commands: TemplateCommand[] = [];
  let sendBack: ((event: TemplateEvent) => void) | null = null;
  const templateProcess = fromCallback<TemplateCommand>(({ sendBack: send, receive }) => {
    sendBack = send;
    receive((command) => commands.push(command));
  });
  const parent = setup({ actors: { template: templateMachine.provide({ actors: { templateProcess } }) } }).createMachine({
    invoke: { id: 'template', src: 'template', input: INPUT },
  });
  const clock = new SimulatedClock();
  const actor = createActor(parent, { clock }).start();
  const ref = actor.getSnapshot().children.template as AnyActorRef;
  const answers: Record<string, SpareAnswer[]> = {};
  const ask = (requestId: string): void => {
    const replyTo = createActor(
      fromCallback<SpareAnswer>(({ receive }) =>
        receive((answer) => {
          answers[requestId] = [...(answers[requestId] ?? []), answer];
        }),
      ),
    ).start();
    ref.send({ type: 'spare.request', requestId, replyTo });
  };
  const report = (event: TemplateEvent): void => sendBack!(event);
  const up = (): void => {
    report({ type: 'template.started' });
    report({ type: 'template.ready', pid: 7, forkSafe: true, threads: 1 });
  };
  return { ref, clock, commands, answers, ask, report, up };
}

const refused = (reason: string): SpareAnswer[] => [{ type: 'spare.refused', reason }];

describe("the template machine's answers to sessions", () => {
  it('a cancelled request is taken out, and only that one: the spare goes to the next', () => {
    const t = template();
    t.up();
    t.ask('r1');
    t.ask('r2');
    t.ask('r3');
    t.ref.send({ type: 'spare.cancel', requestId: 'r2' });
    t.report({ type: 'template.spareReady', spareId: 1 });
    t.report({ type: 'template.spareReady', spareId: 2 });
    expect(t.answers).toEqual({ r1: [{ type: 'spare.granted', spareId: 1 }], r3: [{ type: 'spare.granted', spareId: 2 }] });
  });

  it('says why it refuses: not ready, gone, a fork too slow, a spare lost', () => {
    const early = template();
    early.ask('r1');
    expect(early.answers).toEqual({ r1: refused('the fork template is not ready') });

    const gone = template();
    gone.up();
    gone.ask('r1');
    gone.report({ type: 'template.exited', exitCode: 1, signal: null, reason: 'crashed' });
    expect(gone.answers).toEqual({ r1: refused('the fork template is gone') });

    const slow = template();
    slow.up();
    slow.ask('r1');
    slow.clock.increment(INPUT.forkTimeoutMs);
    expect(slow.commands.at(-1)).toEqual({ type: 'template.letGoSpare', spareId: 1 });
    expect(slow.answers).toEqual({ r1: refused('the fork template did not fork in time') });

    const lost = template();
    lost.up();
    lost.ask('r1');
    lost.report({ type: 'template.spareLost', spareId: 1, reason: 'died' });
    expect(lost.answers).toEqual({ r1: refused('the spare was lost') });
  });
});
