/** An image pull's progress, per layer, as `POST /images/pull` streams it. */
import type { ImagePullEvent } from '../sdk/index.ts';
import { bytes } from './format.ts';

export interface PullState {
  reference?: string;
  layers?: Record<string, { size: number; downloaded: number; state: string }>;
}

/** The state after one progress event. */
export function progressOf(state: PullState, ev: ImagePullEvent): PullState {
  const layers = { ...(state.layers ?? {}) };
  const update = (digest: string | undefined, change: Partial<{ downloaded: number; state: string }>): void => {
    if (!digest || !layers[digest]) return;
    layers[digest] = { ...layers[digest], ...change };
  };
  switch (ev.kind) {
    case 'resolved':
      for (const l of ev.layers) layers[l.digest] = { size: l.size, downloaded: 0, state: 'waiting' };
      return { reference: ev.reference, layers };
    case 'layer-exists':
      update(ev.digest, { downloaded: layers[ev.digest]?.size ?? 0, state: 'already here' });
      break;
    case 'download':
      update(ev.digest, { downloaded: ev.downloaded, state: 'downloading' });
      break;
    case 'downloaded':
      update(ev.digest, { downloaded: layers[ev.digest]?.size ?? 0, state: 'downloaded' });
      break;
    case 'extracting':
      update(ev.digest, { state: 'extracting' });
      break;
    case 'extracted':
      update(ev.digest, { state: 'done' });
      break;
    default:
      break;
  }
  return { ...state, layers };
}

export function PullProgress({ state }: { state: PullState }) {
  const layers = Object.entries(state.layers ?? {});
  const total = layers.reduce((n, [, l]) => n + l.size, 0);
  const done = layers.reduce((n, [, l]) => n + l.downloaded, 0);
  return (
    <div class="pull" role="status" aria-live="polite">
      <p>
        Pulling {state.reference ?? '…'}: {bytes(done)} of {bytes(total)}
      </p>
      <progress max={total || 1} value={done} />
      <ul class="layers">
        {layers.map(([digest, l]) => (
          <li key={digest}>
            <code>{digest.slice(7, 19)}</code> {l.state} {bytes(l.downloaded)}/{bytes(l.size)}
          </li>
        ))}
      </ul>
    </div>
  );
}
