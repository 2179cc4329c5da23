// Quiet Powertools in unit tests unless a test opts in; tests that assert log lines capture stdout themselves.
process.env['POWERTOOLS_LOG_LEVEL'] ??= 'SILENT';
process.env['POWERTOOLS_DEV'] ??= 'false';
