package spec

import _ "embed"

// schemaJSON is the JSON Schema (draft 2020-12) of shipgate.yml for editors (the YAML
// language server reads it through a `# yaml-language-server: $schema=` comment or an
// editor setting). Parse is the authority; the schema states the same rules except the
// few that relate several fields (see TestSchemaAgreesWithParser).
//
//go:embed shipgate.schema.json
var schemaJSON []byte

// Schema returns a copy of the JSON Schema document of shipgate.yml.
func Schema() []byte { return append([]byte(nil), schemaJSON...) }
