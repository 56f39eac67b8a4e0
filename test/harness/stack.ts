import { startEdge, type StartedEdge } from './edge';
import { startFaultProxy, type FaultProxy } from './fault-proxy';
import { pushStandardFixtures, type FixtureOptions, type StandardFixtures } from './fixtures';
import { type RegistryAuth, startRegistry, type StartedRegistry } from './registry';

/** A registry with the standard fixtures, a fault proxy in front, and an edge behind it. */
export interface ProxiedStack {
  registry: StartedRegistry;
  fixtures: StandardFixtures;
  /** What the edge reaches the registry through; its host is the registry's name. */
  proxy: FaultProxy;
  edge: StartedEdge;
  /** Stops everything, in reverse order, and removes what it wrote. */
  stop(): Promise<void>;
}

/** Options for `startProxiedStack`. */
export interface StackOptions extends FixtureOptions {
  auth: RegistryAuth;
  /** Other vars for the edge, such as TAG_TTL_SECONDS. */
  vars?: Record<string, string>;
  /** More REGISTRIES entries besides the proxy. */
  moreRegistries?: string[];
}

/**
 * Starts the setup most end-to-end suites share: a real registry, the standard fixtures, a
 * fault proxy of ours in front of it, and an edge whose only registry is that proxy.
 */
export async function startProxiedStack(options: StackOptions): Promise<ProxiedStack> {
  const registry = await startRegistry({ auth: options.auth });
  const parts: Partial<ProxiedStack> = { registry };
  const stop = async () => {
    await parts.edge?.stop({ keepState: false });
    await parts.proxy?.stop();
    await registry.stop();
    await parts.fixtures?.cleanup();
  };

  try {
    parts.fixtures = await pushStandardFixtures(registry, options);
    parts.proxy = await startFaultProxy(registry.url);
    parts.edge = await startEdge({
      registries: [`http://${parts.proxy.host}`, ...(options.moreRegistries ?? [])],
      ...(options.vars === undefined ? {} : { vars: options.vars }),
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { ...(parts as Omit<ProxiedStack, 'stop'>), stop };
}
