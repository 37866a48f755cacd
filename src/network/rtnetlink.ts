/**
 * The few rtnetlink requests a container's network needs, sent over a NETLINK_ROUTE socket the
 * daemon holds, in place of an `ip` process per change (a process costs ~10-20 ms to start here;
 * a request costs the kernel's work only). A socket answers for the network namespace it was
 * made in: one made inside a container's namespace configures that namespace from any thread.
 *
 * Requests go out several to a datagram, their answers are read on libuv's thread pool (a
 * request may wait for the kernel's rtnl lock), one batch at a time per socket; each asks for an
 * acknowledgement, and a negative one becomes an RtnetlinkError naming the errno.
 */
import { libcFunctions, onThreadPool, type LibcFunctions, type NativeFn } from '../runtime/libc.ts';
import { errnoName } from '../runtime/mount-syscalls.ts';
import { parseIpv4 } from './ipv4.ts';

const AF_NETLINK = 16;
const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;

const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const RTM_DELNEIGH = 29;

const IFLA_IFNAME = 3;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_AF_SPEC = 26;
const IFLA_NET_NS_FD = 28;
const IFLA_INET6_ADDR_GEN_MODE = 8;
const IN6_ADDR_GEN_MODE_NONE = 1;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const RTA_GATEWAY = 5;
const NDA_DST = 1;
const IFF_UP = 0x1;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;

type Libc = LibcFunctions<{
  socket: (domain: number, type: number, protocol: number) => number;
  close: (fd: number) => number;
  send: NativeFn<[fd: number, buf: Buffer, len: number, flags: number]>;
  recv: NativeFn<[fd: number, buf: Buffer, len: number, flags: number]>;
}>;

let libcPromise: Promise<Libc> | undefined;
function libc(): Promise<Libc> {
  libcPromise ??= libcFunctions<{ socket: Libc['socket']; close: Libc['close']; send: Libc['send']; recv: Libc['recv'] }>({
    socket: 'int socket(int domain, int type, int protocol)',
    close: 'int close(int fd)',
    send: 'long send(int fd, const void *buf, size_t len, int flags)',
    recv: 'long recv(int fd, _Out_ void *buf, size_t len, int flags)',
  });
  return libcPromise;
}

/** The kernel refused a request: `errno` is its code (ENOENT, EEXIST…). */
export class RtnetlinkError extends Error {
  constructor(
    readonly what: string,
    readonly errno: string,
  ) {
    super(`${what}: ${errno}`);
    this.name = 'RtnetlinkError';
  }
}

/** A netlink attribute: type and payload (nested attributes are given as their encoded bytes). */
type Attr = [type: number, data: Buffer];

function attrs(list: readonly Attr[]): Buffer {
  return Buffer.concat(
    list.map(([type, data]) => {
      const len = 4 + data.length;
      const out = Buffer.alloc((len + 3) & ~3);
      out.writeUInt16LE(len, 0);
      out.writeUInt16LE(type, 2);
      data.copy(out, 4);
      return out;
    }),
  );
}
const str = (s: string): Buffer => Buffer.from(`${s}\0`);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
};
function ipv4(address: string): Buffer {
  const n = parseIpv4(address);
  if (n === undefined) throw new Error(`"${address}" is not an IPv4 address`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}
/** struct ifinfomsg */
function ifinfo(index = 0, up = false): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(AF_UNSPEC, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(up ? IFF_UP : 0, 8);
  b.writeUInt32LE(up ? IFF_UP : 0, 12);
  return b;
}

/**
 * One request: what it does (for errors), its message type, flags and body, and the errno
 * names that mean "already so" (the request then counts as done).
 */
export interface RtRequest {
  what: string;
  type: number;
  flags: number;
  body: Buffer;
  tolerate?: readonly string[];
}

/** Requests that make and change links, addresses, routes and neighbours. */
export const rt = {
  /**
   * A veth pair: `name` here, on the bridge of index `master` (down: see upAsPort); its peer `peer`
   * made directly in the namespace open at `peer.netnsFd` (with whatever index is free there: the
   * kernel takes an index asked for the peer only when one is asked for `name` too).
   */
  addVeth(name: string, master: number, peer: { name: string; netnsFd: number }): RtRequest {
    const peerInfo = Buffer.concat([ifinfo(), attrs([[IFLA_IFNAME, str(peer.name)], [IFLA_NET_NS_FD, u32(peer.netnsFd)]])]);
    const linkinfo = attrs([
      [IFLA_INFO_KIND, str('veth')],
      [IFLA_INFO_DATA, attrs([[VETH_INFO_PEER, peerInfo]])],
    ]);
    const body = Buffer.concat([ifinfo(), attrs([[IFLA_IFNAME, str(name)], [IFLA_MASTER, u32(master)], [IFLA_LINKINFO, linkinfo]])]);
    return { what: `add veth ${name}`, type: RTM_NEWLINK, flags: NLM_F_CREATE | NLM_F_EXCL, body };
  },

  /**
   * Brings the link named `name` up without an IPv6 address of its own (no link-local address, so
   * no duplicate-address detection or router solicitation): for a bridge port, which only switches frames.
   */
  upAsPort(name: string): RtRequest {
    const noIpv6Address = attrs([[AF_INET6, attrs([[IFLA_INET6_ADDR_GEN_MODE, Buffer.from([IN6_ADDR_GEN_MODE_NONE])]])]]);
    return { what: `set ${name} up`, type: RTM_NEWLINK, flags: 0, body: Buffer.concat([ifinfo(0, true), attrs([[IFLA_IFNAME, str(name)], [IFLA_AF_SPEC, noIpv6Address]])]) };
  },

  /** Removes the link named `name` (none is fine). */
  deleteLink(name: string): RtRequest {
    return { what: `delete link ${name}`, type: RTM_DELLINK, flags: 0, body: Buffer.concat([ifinfo(), attrs([[IFLA_IFNAME, str(name)]])]), tolerate: ['ENODEV'] };
  },

  /** Brings the link of index `index` up. */
  setUp(index: number): RtRequest {
    return { what: `set link ${index} up`, type: RTM_NEWLINK, flags: 0, body: ifinfo(index, true) };
  },

  /** Adds `address/prefixLength` to the link of index `index`. */
  addAddress(index: number, address: string, prefixLength: number): RtRequest {
    const msg = Buffer.alloc(8);
    msg.writeUInt8(AF_INET, 0);
    msg.writeUInt8(prefixLength, 1);
    msg.writeUInt8(RT_SCOPE_UNIVERSE, 3);
    msg.writeUInt32LE(index, 4);
    const body = Buffer.concat([msg, attrs([[IFA_LOCAL, ipv4(address)], [IFA_ADDRESS, ipv4(address)]])]);
    return { what: `add address ${address}/${prefixLength}`, type: RTM_NEWADDR, flags: NLM_F_CREATE | NLM_F_EXCL, body };
  },

  /** The default route via `gateway` in the main table, replacing one that is there. */
  defaultRoute(gateway: string): RtRequest {
    const msg = Buffer.from([AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0, 0, 0, 0]);
    return { what: `route default via ${gateway}`, type: RTM_NEWROUTE, flags: NLM_F_CREATE | NLM_F_REPLACE, body: Buffer.concat([msg, attrs([[RTA_GATEWAY, ipv4(gateway)]])]) };
  },

  /** Forgets the neighbour entry of `address` on the link of index `index` (none is fine). */
  deleteNeighbour(index: number, address: string): RtRequest {
    const msg = Buffer.alloc(12);
    msg.writeUInt8(AF_INET, 0);
    msg.writeInt32LE(index, 4);
    return { what: `forget neighbour ${address}`, type: RTM_DELNEIGH, flags: 0, body: Buffer.concat([msg, attrs([[NDA_DST, ipv4(address)]])]), tolerate: ['ENOENT'] };
  },
};

/** One NETLINK_ROUTE socket, bound to the network namespace it was made in. */
export class Rtnetlink {
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly answer = Buffer.alloc(64 * 1024);
  private closed = false;

  private constructor(
    private readonly lib: Libc,
    private readonly fd: number,
  ) {}

  /**
   * Loads what a socket needs and answers a function that makes one synchronously, so a caller
   * that has entered another namespace for a moment can make that namespace's socket there.
   */
  static async opener(): Promise<() => Rtnetlink> {
    const lib = await libc();
    return () => {
      const fd = lib.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
      if (fd < 0) throw new Error(`cannot open a netlink socket: ${errnoName(lib.errno())}`);
      return new Rtnetlink(lib, fd);
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // after what is in flight
    void this.queue.finally(() => this.lib.close(this.fd));
  }

  /**
   * Sends `requests` in one datagram (the kernel carries them out in order) and waits for every
   * acknowledgement. The first refusal not tolerated throws, after all answers are read; the
   * requests after a refused one have still been carried out.
   */
  run(...requests: RtRequest[]): Promise<void> {
    const work = async (): Promise<void> => {
      if (this.closed) throw new Error(`${requests[0]?.what ?? 'netlink'}: the netlink socket is closed`);
      const first = this.seq + 1;
      const messages = requests.map((r) => {
        const msg = Buffer.alloc(16 + r.body.length);
        msg.writeUInt32LE(msg.length, 0);
        msg.writeUInt16LE(r.type, 4);
        msg.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | r.flags, 6);
        msg.writeUInt32LE(++this.seq, 8);
        r.body.copy(msg, 16);
        return msg;
      });
      const datagram = Buffer.concat(messages);
      const sent = Number(await onThreadPool(this.lib.send, this.fd, datagram, datagram.length, 0));
      if (sent !== datagram.length) throw new Error(`${requests[0]!.what}: cannot send the request to the kernel`);
      let refused: RtnetlinkError | undefined;
      const pending = new Set(requests.map((_, i) => first + i));
      while (pending.size > 0) {
        const got = Number(await onThreadPool(this.lib.recv, this.fd, this.answer, this.answer.length, 0));
        if (got < 16) throw new Error(`${requests[0]!.what}: cannot read the kernel's answer`);
        // one datagram may hold several messages
        for (let at = 0; at + 16 <= got; ) {
          const len = this.answer.readUInt32LE(at);
          if (len < 16) break;
          const seq = this.answer.readUInt32LE(at + 8);
          if (this.answer.readUInt16LE(at + 4) === NLMSG_ERROR && pending.delete(seq)) {
            const error = this.answer.readInt32LE(at + 16);
            const request = requests[seq - first]!;
            const name = errnoName(-error);
            if (error !== 0 && !request.tolerate?.includes(name)) refused ??= new RtnetlinkError(request.what, name);
          }
          at += (len + 3) & ~3;
        }
      }
      if (refused) throw refused;
    };
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
