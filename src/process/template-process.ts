import { fromCallback, type CallbackActorLogic } from 'xstate';
import type { TemplateCommand } from '../../machines/template.machine.js';
import type { ForkServer } from './fork-server.js';

/** The logic the template machine invokes as its `templateProcess` actor. */
export type TemplateProcessLogic = CallbackActorLogic<TemplateCommand>;

/** The process actor the template machine invokes: one template process of the fork server, and its spares. */
export function templateProcessActor(forkServer: ForkServer): TemplateProcessLogic {
  return fromCallback<TemplateCommand>(({ sendBack, receive }) => {
    forkServer.start((event) => sendBack(event));
    receive((command) => {
      switch (command.type) {
        case 'template.kill':
          return forkServer.kill();
        case 'template.orderSpare':
          return forkServer.order(command.spareId);
        case 'template.letGoSpare':
          return forkServer.letGoSpare(command.spareId);
      }
    });
    return () => forkServer.kill();
  });
}
