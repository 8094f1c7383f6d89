package gateway

// SetExportPage sets the export's page size (rows per transaction) and returns a func that
// restores it: TestWorkspaceExport makes pages of one row to cross every page boundary.
func SetExportPage(n int32) (restore func()) {
	old := exportPage.Swap(n)
	return func() { exportPage.Store(old) }
}
