import {
  checkVolumeSpec,
  HindsightError,
  type RolesInput,
  type VolumeSpec,
  withRoles,
} from '../core/index.ts';
import { missingVolume } from '../volumes/index.ts';
import type { RoleContext } from './role-context.ts';

/**
 * changeRoleSettings changes how a volume's roles change (failover, heartbeat, timeout, witness,
 * service address, hooks) on its primary: the spec is stored, the mirrors learn it at once over
 * their links, and an address change moves the address this node holds.
 */
export function changeRoleSettings(ctx: RoleContext, name: string, input: RolesInput): VolumeSpec {
  const v = ctx.volumes.get(name);
  if (!v) throw missingVolume(name);
  if (v.role !== 'primary') {
    throw new HindsightError(
      'E_VOLUME_NOT_PRIMARY',
      `volume ${name} is changed on its primary, ${v.spec.primary.node}`,
    );
  }
  const spec = checkVolumeSpec(withRoles(v.spec, input));
  ctx.volumes.setSpec(name, spec);
  for (const m of spec.mirrors) ctx.runner.mirrorLink(m.node)?.addVolume(spec);
  if (v.state === 'active') {
    ctx.service
      .moveAddress(name, v.spec.roles, spec.roles)
      .catch((err) => ctx.log.error('moving the service address failed', { volume: name, err }));
  }
  ctx.events.emit({
    level: 'info',
    type: 'volume.changed',
    volume: name,
    msg: 'volume roles changed',
    data: { roles: spec.roles },
  });
  return spec;
}
