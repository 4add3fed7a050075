export async function main(_argv: string[], _options: { searchPaths?: string[] } = {}): Promise<number> { return 0; }
