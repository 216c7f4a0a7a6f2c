"""The studio: a local web page to paint a portrait and watch it happen.

app      `nst studio`: the Starlette app, its JSON API and the page (`page.html`, `page.js`, `page.css`)
guard    who may use it and how much: the token, Host and Origin checks, the body cap, security headers
uploads  uploaded images decoded and written anew as the studio's own files
runs     each painting in a folder of its own; its state read from disk
painter  the one child process that paints every run, warm between runs, locked to its run's folder
"""
