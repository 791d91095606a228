from django.contrib import admin


class ConsoleSite(admin.AdminSite):
    site_header = "Tessera console"
    site_title = "Tessera console"
    index_title = "Operate organizations"


console_site = ConsoleSite(name="console")
