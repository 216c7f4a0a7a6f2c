"""The studio: a local web page to paint a portrait and watch it happen.

    app     `nst studio`: the Starlette app, its JSON API and the page (`page.html`)
    runs    each painting as the CLI in a child process, in a folder of its own; its state read from disk
"""
