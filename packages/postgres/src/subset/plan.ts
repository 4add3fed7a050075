import { builtInProfiles, loadProfile, type ParamType, type Profile } from './profile.js';
import {
  finishSelection,
  parseCommonSelection,
  parseGenericSelection,
  type RowSelection,
  type Seed,
  type SelectionOptions,
  usage,
} from './selection.js';

/**
 * What the row options ask for, checked before anything connects. A named selection without
 * `--profile` is resolved inside the snapshot: the built-in profile whose tables the database has.
 */
export interface SelectionPlan {
  /** One with `--profile`; without it, the built-in profiles that declare the selection. */
  profiles: Profile[];
  /** `--profile` was given: no recognition, its table names are checked like any flag's. */
  explicit: boolean;
  build(profile: Profile | undefined): RowSelection;
}

/** Undefined when no row option is given: a full dump. */
export async function planSelection(options: SelectionOptions): Promise<SelectionPlan | undefined> {
  const conversation = options.conversationId !== undefined;
  if (conversation && (options.where !== undefined || (options.param ?? []).length > 0)) {
    throw usage(
      '--conversation-id cannot be combined with --where or --param',
      'it means --select conversation --param <uuid>; use one form',
    );
  }
  if (conversation && options.select !== undefined) {
    throw usage(
      '--conversation-id cannot be combined with --select',
      'it means --select conversation --param <uuid>; use one form',
    );
  }
  const name = options.select?.trim() ?? (conversation ? 'conversation' : undefined);
  if (name !== undefined && options.where !== undefined) {
    throw usage(
      `--select ${name} cannot be combined with --where`,
      'a named selection brings its own conditions; use one form',
    );
  }
  if (options.profile === undefined && name === undefined) {
    const selection = parseGenericSelection(options);
    return selection && { profiles: [], explicit: false, build: () => selection };
  }
  if (name === undefined && options.since === undefined && options.where === undefined) {
    throw usage(
      '--profile needs a selection to work on',
      'add --since, --select NAME --param VALUE or --conversation-id (without them every row is backed up)',
    );
  }
  const explicit = options.profile !== undefined;
  const profiles = explicit
    ? [await loadProfile(options.profile as string)]
    : (await builtInProfiles()).filter((profile) => profile.selections.has(name as string));
  if (profiles.length === 0) {
    throw usage(
      `no built-in profile has a selection "${name}"`,
      'pass --profile NAME|FILE with the profile that declares it',
    );
  }
  const build = (profile: Profile | undefined) => {
    if (!profile) throw new Error('a named selection needs a profile');
    return buildSelection(profile, name, options);
  };
  // Every profile it may resolve to must accept the options, so a typo fails before anything connects.
  for (const profile of profiles) build(profile);
  return { profiles, explicit, build };
}

function buildSelection(
  profile: Profile,
  requested: string | undefined,
  options: SelectionOptions,
): RowSelection {
  const common = parseCommonSelection(options);
  const profileTimeColumns = profile.timeColumns;
  // `--where` says which rows itself; the profile still brings its time columns and links.
  const chosen = requested ?? (options.where === undefined ? profile.since : undefined);
  const lead = [`profile ${profile.name}`];
  if (chosen === undefined) {
    const generic = parseGenericSelection(options);
    if (!generic) throw new Error('a profile without a named selection needs --since or --where');
    const { summary: _summary, ...rest } = generic;
    return finishSelection({ ...rest, profileTimeColumns, links: profile.links }, lead);
  }
  const selection = profile.selections.get(chosen);
  if (!selection) {
    throw usage(
      `--select: profile ${profile.name} has no selection "${chosen}"`,
      `its selections: ${[...profile.selections.keys()].join(', ')}`,
    );
  }
  const values =
    options.conversationId !== undefined ? [options.conversationId.trim()] : [...(options.param ?? [])];
  if (values.length !== selection.params.length) {
    throw usage(
      `selection ${chosen} of profile ${profile.name} takes ${selection.params.length} --param value(s), got ${values.length}`,
      selection.params.length === 0
        ? 'drop --param'
        : `give ${selection.params.map((type, i) => `--param ${type.toUpperCase()} ($${i + 1})`).join(' ')}`,
    );
  }
  const params = values.map((value, i) =>
    checkParam(value, selection.params[i] as ParamType, options.conversationId !== undefined, chosen),
  );
  if (selection.window && common.since === undefined) {
    throw usage(
      `selection ${chosen} of profile ${profile.name} is a time window: it needs --since`,
      'add --since, e.g. --since "1 day"',
    );
  }
  if (options.includeChunks && selection.chunks.length === 0) {
    throw usage(
      `--include-chunks: selection ${chosen} of profile ${profile.name} declares no chunks`,
      'drop --include-chunks',
    );
  }
  const origin = `profile ${profile.name}, selection ${chosen}`;
  const seeds: Seed[] = selection.where.map((where) => ({ ...where, origin }));
  const window = selection.window;
  if (window && !seeds.some((seed) => seed.table.text === window.text)) seeds.push({ table: window, origin });
  const chunks = options.includeChunks === true;
  return finishSelection(
    {
      ...common,
      profileTimeColumns,
      seeds,
      params,
      groups: [...selection.groups, ...common.groups],
      links: profile.links,
      childrenOf: [...selection.children, ...(chunks ? selection.chunks : [])],
      noChildrenOf: chunks ? [] : selection.chunks,
    },
    [...lead, `selection ${chosen}`],
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkParam(value: string, type: ParamType, conversationId: boolean, selection: string): string {
  const flag = conversationId ? '--conversation-id' : `--param (selection ${selection})`;
  if (type === 'uuid') {
    if (!UUID.test(value.trim())) {
      throw usage(
        `${flag} "${value}" is not a UUID`,
        'give it as 8-4-4-4-12 hex digits, e.g. 123e4567-e89b-12d3-a456-426614174000',
      );
    }
    return value.trim().toLowerCase();
  }
  if (type === 'integer' && !/^-?\d+$/.test(value.trim())) {
    throw usage(`${flag} "${value}" is not a whole number`, 'give digits only, e.g. 42');
  }
  return type === 'integer' ? value.trim() : value;
}
