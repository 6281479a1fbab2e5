package poblysh

import _ "embed"

// SwaggerYAML is the hand-written API contract (swagger.yml), embedded so the
// binary serves it at /swagger.yml and /swagger.json.
//
//go:embed swagger.yml
var SwaggerYAML []byte
