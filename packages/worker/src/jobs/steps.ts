/** A job made of steps that must not starve each other: every step runs, whichever failed before it. */

/** Some steps of a job failed; the message names each with its cause. */
export class StepsFailed extends Error {
  constructor(readonly failures: Record<string, unknown>) {
    super(
      Object.entries(failures)
        .map(([step, error]) => `${step}: ${error instanceof Error ? error.message : String(error)}`)
        .join('; '),
    );
    this.name = 'StepsFailed';
  }
}

type Steps = Record<string, () => Promise<unknown>>;
type Reports<S extends Steps> = { [K in keyof S]: Awaited<ReturnType<S[K]>> };

/** Runs the steps one after another; throws StepsFailed, after all ran, when any failed. */
export async function runSteps<S extends Steps>(steps: S): Promise<Reports<S>> {
  const reports: Record<string, unknown> = {};
  const failures: Record<string, unknown> = {};
  for (const [name, step] of Object.entries(steps)) {
    try {
      reports[name] = await step();
    } catch (error) {
      failures[name] = error;
    }
  }
  if (Object.keys(failures).length > 0) throw new StepsFailed(failures);
  return reports as Reports<S>;
}
