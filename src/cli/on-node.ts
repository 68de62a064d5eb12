import type { ApiClient } from '../api/index.ts';
import { HindsightError } from '../core/index.ts';
import type { StatusReport } from '../daemon/index.ts';

/**
 * checkOn makes sure a command meant for node `on` reaches it. The local agent is the only one
 * the CLI talks to, so `--on` must name this node; otherwise the error says where to run it.
 */
export async function checkOn(client: ApiClient, on: string | undefined): Promise<void> {
  if (on === undefined) return;
  const { node } = await client.get<StatusReport>('/v1/status');
  if (node !== on) {
    throw new HindsightError('E_USAGE', `this is node ${node}, not ${on}`, {
      hint: `run the command on ${on} (with its --state), where the view is kept`,
    });
  }
}
