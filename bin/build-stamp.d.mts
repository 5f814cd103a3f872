/** The folders whose files make up the stamp (bin/build-stamp.mjs). */
export declare const SOURCE_DIRS: string[];
/** `<count>:<newest mtime in ms>` of the runtime sources under `root`. */
export declare function sourcesStamp(root: string): string;
