/** True when running in CI (the CI variable set to anything but "", "0" or "false"). */
export function inCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/**
 * For tests that need an outside tool: returns `present`. When the tool is missing, in CI
 * this throws (the suite fails: CI must have the tool); locally it warns, and the caller skips.
 */
export function requireTool(name: string, present: boolean, why?: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (present) return true;
  const detail = why ? `: ${why}` : '';
  if (inCI(env)) throw new Error(`${name} is required in CI but is not available${detail} (install it in the CI image; tests that need it must not be skipped there)`);
  console.warn(`SKIPPED tests that need ${name}: not available${detail}`);
  return false;
}
