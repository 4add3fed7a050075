/**
 * The checker the config loader runs on every `schedule:`: the scheduler's own parser (croner), so a
 * config that `run` and `config check` accept is one the scheduler accepts too.
 */
export async function loadScheduleChecker(): Promise<(expression: string) => void> {
  const { Cron } = await import('croner');
  return (expression) => {
    try {
      new Cron(expression, { paused: true }).stop();
    } catch (error) {
      throw new Error(
        `"${expression}" is not a cron expression (${(error as Error).message}); use 5 fields (minute hour day month weekday) or 6 with seconds first, e.g. "0 2 * * *"`,
      );
    }
  };
}
