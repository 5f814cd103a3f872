/** JVM builds: Maven and Gradle, through the repository's wrapper when it has one. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { exists, type DetectedTestCommand } from './common.ts';

export async function detectMaven(dir: string): Promise<DetectedTestCommand | undefined> {
  if (!(await exists(path.join(dir, 'pom.xml')))) return undefined;
  const wrapper = await wrapperCommand(dir, 'mvnw');
  return wrapper
    ? { command: `${wrapper} -q -B test`, source: 'pom.xml (Maven wrapper)' }
    : { command: 'mvn -q -B test', source: 'pom.xml' };
}

export async function detectGradle(dir: string): Promise<DetectedTestCommand | undefined> {
  const build = (await exists(path.join(dir, 'build.gradle.kts')))
    ? 'build.gradle.kts'
    : (await exists(path.join(dir, 'build.gradle')))
      ? 'build.gradle'
      : undefined;
  if (!build) return undefined;
  const wrapper = await wrapperCommand(dir, 'gradlew');
  return wrapper
    ? { command: `${wrapper} test`, source: `${build} (Gradle wrapper)` }
    : { command: 'gradle test', source: build };
}

/** `./mvnw` / `./gradlew`, or `sh ./x` when the wrapper lost its executable bit (common in zips). */
async function wrapperCommand(dir: string, name: string): Promise<string | undefined> {
  const file = path.join(dir, name);
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) return undefined;
    return st.mode & 0o111 ? `./${name}` : `sh ./${name}`;
  } catch {
    return undefined;
  }
}
