import { HindsightError } from '../core/index.ts';
import {
  connectForJoin,
  createNodeKey,
  decodeJoinToken,
  encodeFrame,
  type JoinAnswer,
  MSG,
  nodeNameOf,
  readOneFrame,
  saveIdentity,
  splitAddress,
} from '../link/index.ts';
import { clockFromEnv } from '../sys/index.ts';
import { parseCommand, printJson, stateDirOf } from './args.ts';
import { finishStateDir, NODE_OPTIONS, nodeConfigFrom, prepareStateDir } from './init.ts';

const USAGE =
  'hindsight join TOKEN --name NAME [--listen HOST:PORT] [--advertise HOST:PORT] [--api HOST:PORT] [--state DIR] [--json]';

/** join makes this machine a node of an existing cluster, using a token from `hindsight invite`. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, NODE_OPTIONS, USAGE, true);
  if (values.help || positionals.length !== 1) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const clock = clockFromEnv();
  const token = decodeJoinToken(positionals[0], clock.now());
  const stateDir = stateDirOf(values);
  const config = nodeConfigFrom(values);
  await prepareStateDir(stateDir);
  const key = await createNodeKey();
  const { host, port } = splitAddress(token.address);
  const socket = await connectForJoin({ host, port, caFingerprint: token.caFingerprint, timeoutMs: 15_000 });
  const answerPromise = readOneFrame(socket, { maxFrameBytes: 1024 * 1024, timeoutMs: 30_000, clock });
  socket.write(
    Buffer.concat(
      encodeFrame(MSG.JOIN, {
        secret: token.secret,
        name: config.name,
        listen: config.advertise,
        publicKeyPem: key.publicKeyPem,
      }),
    ),
  );
  const frame = await answerPromise.finally(() => socket.destroy());
  if (frame.type === MSG.ERROR) {
    const e = frame.header as { code: string; message: string; hint?: string };
    throw new HindsightError(e.code, `${token.inviter} refused the join: ${e.message}`, { hint: e.hint });
  }
  if (frame.type !== MSG.JOINED)
    throw new HindsightError('E_JOIN_FAILED', `unexpected answer type ${frame.type}`);
  const answer = frame.header as JoinAnswer;
  if (nodeNameOf(answer.certPem) !== config.name)
    throw new HindsightError('E_JOIN_FAILED', 'the certificate issued names another node');
  await saveIdentity(stateDir, {
    name: config.name,
    certPem: answer.certPem,
    keyPem: key.keyPem,
    caCertPem: answer.caCertPem,
  });
  await finishStateDir(stateDir, config, answer.members);
  if (values.json)
    printJson({ node: config.name, state: stateDir, listen: config.listen, inviter: token.inviter });
  else {
    process.stdout.write(`joined the cluster of ${token.inviter} as ${config.name} (state ${stateDir})\n`);
    process.stdout.write(`next: 'hindsight agent --state ${stateDir}'\n`);
  }
  return 0;
}
