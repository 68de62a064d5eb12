/** link: the peer link — identity, join and invites, members, TLS, framing, messages, the primary's sender and the mirror's receiver. */

export * from './batch-frame.ts';
export * from './clock-skew.ts';
export * from './framing.ts';
export * from './identity.ts';
export * from './invites.ts';
export * from './join-token.ts';
export * from './members.ts';
export * from './messages.ts';
export * from './node-links.ts';
export * from './peer-connection.ts';
export * from './peer-server.ts';
export * from './pending-replies.ts';
export * from './read-one-frame.ts';
export * from './receiver.ts';
export * from './sender.ts';
export * from './tls.ts';
