// node tests/sbom/validate.js FILE: validates a CycloneDX 1.5 JSON document with the JSON schema
// validator of @cyclonedx/cyclonedx-library (the official bom-1.5 schema, with its SPDX and JSF
// schemas, through ajv with format checks). Prints "valid: FILE (CycloneDX 1.5)" and exits 0, or
// prints every schema error and exits 1.
'use strict'
const fs = require('fs')
const CDX = require('@cyclonedx/cyclonedx-library')

async function main () {
  const file = process.argv[2]
  if (!file) {
    console.error('usage: node validate.js FILE')
    process.exit(2)
  }
  const text = fs.readFileSync(file, 'utf8')
  const doc = JSON.parse(text)
  if (doc.bomFormat !== 'CycloneDX' || doc.specVersion !== '1.5') {
    console.error(`${file}: not a CycloneDX 1.5 document (bomFormat ${doc.bomFormat}, specVersion ${doc.specVersion})`)
    process.exit(1)
  }
  const validator = new CDX.Validation.JsonStrictValidator(CDX.Spec.Version.v1dot5)
  const errors = await validator.validate(text)
  if (errors === null) {
    console.log(`valid: ${file} (CycloneDX 1.5, strict JSON schema)`)
    return
  }
  console.error(`invalid: ${file}`)
  console.error(JSON.stringify(errors, null, 2))
  process.exit(1)
}

main().catch(e => {
  console.error(`validate.js: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})
