package lifecycle

// ReplacedBy exposes replacedBy to the external tests.
var ReplacedBy = replacedBy
