<?xml version="1.0" encoding="UTF-8"?>
<!-- The print form of the demo kind VS00001v001-PFR001 (written for OpenSMEV): the answer as
     a statement of the insured person's account. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:p="urn://opensmev/demo/pfr-account/1.0.0" exclude-result-prefixes="p">
  <xsl:output method="html" encoding="UTF-8" omit-xml-declaration="yes"/>
  <xsl:template match="/p:PersonalAccountResponse">
    <div class="print-form">
      <h3>Выписка из индивидуального лицевого счёта застрахованного лица</h3>
      <p>СНИЛС: <strong><xsl:value-of select="p:Snils"/></strong></p>
      <table class="list">
        <thead><tr><th scope="col">Страхователь</th><th scope="col">ИНН</th><th scope="col">Период</th><th scope="col">Взносы, руб.</th></tr></thead>
        <tbody>
          <xsl:for-each select="p:Period">
            <tr>
              <td><xsl:value-of select="p:Employer"/></td>
              <td><xsl:value-of select="p:EmployerInn"/></td>
              <td><xsl:value-of select="p:From"/> — <xsl:value-of select="p:To"/></td>
              <td><xsl:value-of select="p:Contributions"/></td>
            </tr>
          </xsl:for-each>
        </tbody>
      </table>
      <p>Индивидуальный пенсионный коэффициент: <strong><xsl:value-of select="p:PensionPoints"/></strong></p>
      <p><small>Сформировано: <xsl:value-of select="p:FormedAt"/></small></p>
    </div>
  </xsl:template>
</xsl:stylesheet>
