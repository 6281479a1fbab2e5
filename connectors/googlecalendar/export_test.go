package googlecalendar

// CatalogExamples exposes catalogExamples to the conformance suite.
var CatalogExamples = catalogExamples

// MaxHeldCancellations exposes maxHeldCancellations.
const MaxHeldCancellations = maxHeldCancellations

// MaxNewSeries exposes maxNewSeries.
const MaxNewSeries = maxNewSeries
