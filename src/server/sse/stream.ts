/**
 * What an event stream (GET /events) is made of, shared by the daemon and the fan-out process:
 * each event is turned into its SSE frame once, whatever the number of subscribers, and carries
 * what deciding who may see it needs (container, project, the project's owner, cursor).
 */
import type { HubEvent } from '../../core/event-hub.ts';
import { statusLogWire } from '../wire.ts';

export interface StreamEvent {
  kind: 'transition' | 'operation' | 'client';
  /** The status log cursor of a transition; 0 for operation events (live only). */
  seq: number;
  containerId: string;
  projectId: string | undefined;
  /** The user owning the container's project: only they see the event. */
  ownerId: string | undefined;
  /** The complete SSE frame, ready to write. */
  frame: string;
}

/** One subscriber's filters and tenancy, fixed when the stream opens. */
export interface StreamSpec {
  /** Names the stream, so that the daemon can end it in whichever process holds it. */
  streamId: string;
  userId: string;
  containerId?: string;
  projectId?: string;
  transitions: boolean;
  operations: boolean;
  /** Attaches and detaches of terminal and display clients. */
  clients?: boolean;
  /** Transitions at or below this cursor were already sent (catch-up): skip them. */
  seen: number;
}

/** The project a hub event belongs to, when the event itself says it. */
export function projectOf(e: HubEvent): string | undefined {
  if (e.type === 'operation' || e.type === 'client') return e.event.project_id;
  if (e.row.project_id !== null) return e.row.project_id;
  const p = e.row.metadata.project_id;
  return typeof p === 'string' ? p : undefined;
}

/** The event a reader gets instead of a replay deeper than the server keeps: resume from `cursor`. */
export function resyncFrame(cursor: number, missed: number): string {
  return `id: ${cursor}\nevent: resync\ndata: ${JSON.stringify({ type: 'resync', cursor, reason: `more than ${missed} transitions were missed: read the current state, then follow from this cursor` })}\n\n`;
}

export function toStreamEvent(e: HubEvent, projectId: string | undefined, ownerId: string | undefined): StreamEvent {
  if (e.type === 'transition') {
    const data = { type: 'transition', cursor: e.row.seq, container_id: e.row.container_id, log: statusLogWire(e.row) };
    return { kind: 'transition', seq: e.row.seq, containerId: e.row.container_id, projectId, ownerId, frame: `id: ${e.row.seq}\nevent: transition\ndata: ${JSON.stringify(data)}\n\n` };
  }
  if (e.type === 'client') {
    const { project_id: _project, ...event } = e.event;
    return { kind: 'client', seq: 0, containerId: e.event.container_id, projectId, ownerId, frame: `event: client\ndata: ${JSON.stringify({ type: 'client', ...event })}\n\n` };
  }
  const { project_id: _project, ...event } = e.event;
  return { kind: 'operation', seq: 0, containerId: e.event.container_id, projectId, ownerId, frame: `event: operation\ndata: ${JSON.stringify({ type: 'operation', ...event })}\n\n` };
}

export function visibleTo(spec: StreamSpec, e: StreamEvent): boolean {
  if (e.kind === 'transition' ? !spec.transitions || e.seq <= spec.seen : e.kind === 'client' ? !spec.clients : !spec.operations) return false;
  if (spec.containerId !== undefined && e.containerId !== spec.containerId) return false;
  if (spec.projectId !== undefined && e.projectId !== spec.projectId) return false;
  return e.ownerId !== undefined && e.ownerId === spec.userId;
}

/**
 * The response head of an event stream. The body is written straight to the connection (by
 * whichever process holds it), so it is framed here: chunked, ended by the zero-length chunk.
 */
export function streamHead(): string {
  return [
    'HTTP/1.1 200 OK',
    'Content-Type: text/event-stream; charset=utf-8',
    'Cache-Control: no-cache, no-transform',
    'X-Accel-Buffering: no',
    'Connection: keep-alive',
    'Transfer-Encoding: chunked',
    `Date: ${new Date().toUTCString()}`,
    '',
    '',
  ].join('\r\n');
}

/** `text` as one HTTP chunk. */
export function chunk(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
}

/** The end of a chunked body. */
export const LAST_CHUNK = '0\r\n\r\n';
