import { ConfigKeyError } from './key-path.js';

/**
 * Collects every problem of a config instead of stopping at the first, so one run of
 * `nexus-backup config check` (or any command) names them all. Validators call `attempt` around each
 * independent part (a repository, a pipeline key, a notify entry); a part that fails is left out.
 */
export class ConfigProblems {
  readonly list: ConfigKeyError[] = [];

  add(problem: ConfigKeyError): void {
    this.list.push(problem);
  }

  /** Runs `validate`; a ConfigKeyError is recorded and `undefined` returned, anything else is thrown. */
  attempt<T>(validate: () => T): T | undefined {
    try {
      return validate();
    } catch (error) {
      if (!(error instanceof ConfigKeyError)) throw error;
      this.add(error);
      return undefined;
    }
  }

  get empty(): boolean {
    return this.list.length === 0;
  }
}
