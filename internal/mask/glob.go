package mask

import "path"

// matchGlob matches a lower-cased column name against a lower-cased glob. Column names never contain '/',
// so path.Match's separator rule does not get in the way.
func matchGlob(pattern, name string) (bool, error) { return path.Match(pattern, name) }
