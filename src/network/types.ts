/**
 * Container networking: the shapes shared by the control plane (which allocates addresses and
 * host ports and records them with the container) and the host-side network layer (which makes
 * each running container's network namespace, veth, routes, published ports and name files).
 *
 * A container's network is either `bridge` (a veth on the server's bridge, an address from the
 * server's subnet, outbound traffic masqueraded, published ports) or `none` (its own namespace
 * with loopback only).
 */

export type NetworkMode = 'bridge' | 'none';
export type PortProtocol = 'tcp' | 'udp';

/** One published port as stored and shown: every field filled in (host_port chosen when none was asked). */
export interface PublishedPort {
  container_port: number;
  host_port: number;
  protocol: PortProtocol;
  /** The host address it is reached on; `0.0.0.0` for every address of the host. */
  host_ip: string;
}

/** One address of a container on the server's network (IPv4 now; the shape holds IPv6 too). */
export interface ContainerAddress {
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix_length: number;
  gateway: string;
}

/** A name another container of the same project answers to. */
export interface HostEntry {
  name: string;
  address: string;
}

/**
 * Everything the network layer needs to attach one container, resolved by the control plane from
 * the store. Absent from a ContainerSpec: network `none`.
 */
export interface ContainerNetworkSpec {
  /** Containers of one group reach each other; traffic between groups is dropped (the project id). */
  group: string;
  ipv4: { address: string; prefixLength: number; gateway: string };
  ports: PublishedPort[];
  /** The container's host name (written to /etc/hostname and /etc/hosts). */
  hostname: string;
  /** Names the container resolves through its /etc/hosts: the other containers of its project on this server. */
  hosts: HostEntry[];
}

/** Files the container sees at /etc/hosts, /etc/resolv.conf and /etc/hostname (host paths, bind-mounted). */
export interface NetworkFiles {
  hosts: string;
  resolv: string;
  hostname: string;
  /**
   * A sysfs mounted for the container's network namespace, bound at /sys: a container in its own
   * user namespace cannot mount sysfs for a network namespace that host root owns.
   */
  sysfs?: string;
}

/** A server's network settings (from `HOODY_NETWORK*`). */
export interface NetworkSettings {
  /** `none`: the server makes no bridge and no table; every container is loopback only and `bridge` is refused. */
  mode: NetworkMode;
  /** Bridge interface name, at most 15 characters (default `hoody0`). */
  bridge: string;
  /** IPv4 subnet in CIDR form (default `10.210.0.0/16`); the bridge takes its first address as the gateway. */
  subnet: string;
  /** nftables table (family ip and, for isolation, bridge) the daemon owns; derived from the bridge name by default. */
  table: string;
  /** Name servers written to containers' resolv.conf (default: the host's, loopback ones dropped). */
  nameservers?: string[];
}

/** What a reconcile of the host's network state found and did. */
export interface NetworkReconcileReport {
  /** Container ids whose leftovers (namespace, veth, map elements, files) were removed. */
  removed: string[];
  /** Container ids whose missing pieces (map elements, routes, files) were put back. */
  restored: string[];
}

/**
 * The host-side network layer, as the runtime driver uses it. Every method is serialized with
 * the others (one mutation of the host's network at a time) and every teardown step is idempotent.
 */
export interface ContainerNetwork {
  /** Where the container's network namespace is bind-mounted: known before it exists, so config.json can name it. */
  netnsPath(id: string): string;
  /** The host paths bind-mounted at /etc/hosts, /etc/resolv.conf and /etc/hostname. */
  files(id: string): NetworkFiles;
  /**
   * Makes and sets up the container's network: the namespace (bind-mounted at netnsPath), a veth
   * on the bridge with hairpin on, the address and default route inside, the published ports in
   * the table, and the files. Called again for an attached container it brings it in line with
   * `spec`. A failure part-way removes what it made.
   *
   * `onNamespace` is called once the namespace and the files exist (what runc needs to create
   * the container), which may be before the interfaces and the table are in place: the runtime
   * creates the container meanwhile and lets its process run only once attach has resolved.
   */
  attach(id: string, spec: ContainerNetworkSpec, signal?: AbortSignal, onNamespace?: () => void): Promise<void>;
  /** Removes the container's published ports, namespace, veth and files; nothing there is success. */
  detach(id: string, signal?: AbortSignal): Promise<void>;
  /** Rewrites an attached container's /etc/hosts in place (the bind mount keeps the file's inode). */
  updateHosts(id: string, hosts: HostEntry[]): Promise<void>;
  /**
   * At start-up and on a sweep: removes what no container in `running` owns (namespaces, veths,
   * map elements, files of this server's bridge) and restores what each of them needs. Given a
   * function, it is asked in turn with the other changes, so no attach comes between the answer
   * and its use.
   */
  reconcile(running: ReadonlyMap<string, ContainerNetworkSpec> | (() => Promise<ReadonlyMap<string, ContainerNetworkSpec>>), signal?: AbortSignal): Promise<NetworkReconcileReport>;
  /** The container's addresses as its namespace has them now (empty when it is not attached). */
  addresses(id: string): Promise<ContainerAddress[]>;
  /** Stops background work; leaves the bridge, the table and attached containers in place. */
  close(): Promise<void>;
}
