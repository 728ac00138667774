import { fromCallback } from 'xstate';
import type { TemplateCommand } from '../../machines/template.machine.js';
import type { ForkServer } from './fork-server.js';

/** The process actor the template machine invokes: one template process of the fork server. */
export function templateProcessActor(forkServer: ForkServer) {
  return fromCallback<TemplateCommand>(({ sendBack, receive }) => {
    forkServer.start((event) => sendBack(event));
    receive(() => forkServer.kill());
    return () => forkServer.kill();
  });
}
