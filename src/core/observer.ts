/**
 * What the domain tells whoever measures it (metrics), without knowing how they measure: the
 * outcome and duration of each operation and each correction of drift from the runtime.
 */

/** How a claimed operation ended. */
export type OperationResult = 'ok' | 'error';

/** Who found a recorded status that the runtime contradicted, and corrected it. */
export type DriftSource = 'reconciler' | 'recovery';

export interface CoreObserver {
  /** A claimed operation (create, start, pause, update, delete…) ended after `seconds`. */
  operationFinished(operation: string, result: OperationResult, seconds: number): void;
  /** A container's recorded status was corrected to what the runtime shows. */
  driftCorrected(source: DriftSource): void;
}

/** The observer of a daemon that measures nothing. */
export const NO_OBSERVER: CoreObserver = {
  operationFinished: () => undefined,
  driftCorrected: () => undefined,
};
