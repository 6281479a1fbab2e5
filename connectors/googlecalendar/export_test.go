package googlecalendar

// CatalogExamples exposes catalogExamples to the conformance suite.
var CatalogExamples = catalogExamples
