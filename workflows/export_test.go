package workflows

// SetTenantDeletionPageForTest makes a tenant deletion list its
// connections n at a time, and returns what puts the page back.
func SetTenantDeletionPageForTest(n int) (restore func()) {
	old := tenantDeletionPage
	tenantDeletionPage = n
	return func() { tenantDeletionPage = old }
}
