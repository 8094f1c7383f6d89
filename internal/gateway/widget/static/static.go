// Package static holds the browser assets served by the gateway: the embeddable chat widget
// (widget.js, plain ES2018 without a build step), the demo page that embeds it, and the
// console's live preview page (preview.html with preview.js).
package static

import (
	"embed"
	"html/template"
	"io"
)

// Files holds widget.js and demo.html. Serve widget.js with http.FileServerFS(Files) or
// http.ServeFileFS; demo.html is a template, render it with DemoPage.
//
//go:embed widget.js demo.html preview.html preview.js
var Files embed.FS

// App holds the installable app (docs/app.md): app/index.html (a template), app/app.js,
// app/app.css and the service worker app/sw.js.
//
//go:embed app
var App embed.FS

var demoTemplate = template.Must(template.ParseFS(Files, "demo.html"))

type demoData struct {
	WidgetKey string
	ScriptURL string
}

// DemoPage writes the demo page embedding the widget script at scriptURL (for example
// "https://gateway.example/widget.js" or "/widget.js") with the given widget key. Both values
// are escaped by html/template; a scriptURL with an unsafe scheme is replaced by "#ZgotmplZ".
func DemoPage(w io.Writer, widgetKey, scriptURL string) error {
	return demoTemplate.Execute(w, demoData{WidgetKey: widgetKey, ScriptURL: scriptURL})
}
