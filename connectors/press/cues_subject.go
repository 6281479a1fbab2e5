package press

// subjectCues are the phrases Detect looks for in a Subject, by language.
// They are phrases journalists use when they ask for an interview, a
// comment or a statement by a deadline, and the counter-phrases of mail that
// shares their words (job interviews, invoices, subscriptions, newsletters).
// They describe how press mail is written, not any message of the labeled
// set: add a phrase only when it is common usage in its language.
var subjectCues = compileCues(subjectCueSets)

// subjectCueSets are the subject cue phrases by language and weight.
var subjectCueSets = []cueSet{
	// English
	{"en", strongCue, `press inquiry|press inquiries|press enquiry|press enquiries|media inquiry|media inquiries|
		media enquiry|media enquiries|press request|media request|media requests|press query|media query|
		press question|press questions|request for comment|requests for comment|seeking comment|comment request|
		journalist*|embargo*|on the record|off the record|on background|reporter inquiry|reporter query`},
	{"en", mediumCue, `interview request|interview requests|request for interview|request for an interview|
		interview inquiry|for comment|for a comment|comment for|story on|story about|writing a story|
		working on a story|piece on|piece about|article on|article about|profile of|
		fact check*|factcheck*|on deadline|statement request|request for statement|request for a statement|
		podcast interview|tv interview|radio interview|live interview|on air|newsroom|reporter|reporters|
		for publication`},
	{"en", weakCue, `interview*|deadline|comment|comments|story|article|feature|quote|statement|podcast|
		press|media|coverage|questions`},
	{"en", neutralCue, `press release|press releases|news release|press kit|press conference|press room|
		social media|media buying|media plan|media planning|feature request|
		feature requests|new feature|new features|feature flag|user story|user stories|success story|
		customer story|bank statement|account statement|statement of work|financial statements|
		insurance coverage|test coverage|code coverage|price quote|your quote|sales quote|quote request|
		request a quote|request for quote|request for quotation`},
	// Auto-replies quote the subject they answer; RFC 3834's Auto-Submitted
	// excludes them when the sender's server sets it, these when it does not.
	{"en", counterCue, `out of office|automatic reply|auto reply|autoreply|auto response|away from the office`},
	{"en", counterCue, `subscription*|subscribe|unsubscribe|receipt|invoice*|payment|billing|renewal|
		your account|your order|order confirmation|password|verify your|confirm your|sign in|log in|login|
		security alert|advertising|advertise|advertisement|sponsorship|sponsored|media kit|rate card|webinar|
		sponsored content|partner content|brand partnership|exclusive invitation|invitation to join|
		become a member|membership|
		registration confirmed|your registration|your ticket|support ticket|job interview|job application|
		job offer|job opening|candidate|vacancy|hiring|recruit*|applicant|resume|phone screen|onsite interview|
		technical interview|interview schedule|interview slot|offer letter|newsletter|digest|daily briefing|
		morning briefing|evening briefing|breaking news|news alert|top stories|headlines|weekly roundup|
		special offer|free trial|limited time|discount|coupon|promo code`},

	// Spanish
	{"es", strongCue, `consulta de prensa|consultas de prensa|solicitud de prensa|peticion de prensa|
		consulta periodistica|solicitud de medios|consulta de medios|periodista*|solicitud de comentario*|
		peticion de comentario*|pedido de comentario*|bajo embargo|embargado|embargada|con embargo`},
	{"es", mediumCue, `solicitud de entrevista|peticion de entrevista|pedido de entrevista|para un reportaje|
		reportaje sobre|articulo sobre|cronica sobre|declaraciones|cierre de edicion`},
	{"es", weakCue, `entrevista*|reportaje*|articulo|declaracion|plazo|fecha limite|prensa|medios|comentario*`},
	{"es", neutralCue, `nota de prensa|comunicado de prensa|rueda de prensa|conferencia de prensa|
		redes sociales|kit de prensa|dossier de prensa|declaracion de la renta|declaracion de impuestos|
		declaraciones de impuestos|declaracion jurada|medios de pago`},
	{"es", counterCue, `entrevista de trabajo|entrevista laboral|factura*|suscripcion*|recibo|tu cuenta|
		su cuenta|contrasena|oferta de empleo|candidatura|curriculum|vacante|boletin|publicidad|
		tarifas publicitarias|kit de medios|membresia`},

	// French
	{"fr", strongCue, `demande presse|demande de presse|demandes presse|demande media*|demande des medias|
		sollicitation presse|sollicitation media*|requete presse|question presse|questions presse|
		journaliste*|demande de commentaire*|sous embargo`},
	{"fr", mediumCue, `demande d interview|demande d entretien|demande d entrevue|pour un article|article sur|
		reportage sur|enquete sur|demande de reaction|votre reaction|bouclage|pour publication`},
	{"fr", weakCue, `redaction|entretien|reportage|delai|date limite|presse|medias|temoignage*|reaction`},
	{"fr", neutralCue, `communique de presse|communiques de presse|conference de presse|dossier de presse|
		kit presse|reseaux sociaux|revue de presse`},
	{"fr", counterCue, `entretien d embauche|entretien annuel|entretien individuel|facture*|abonnement*|
		paiement|votre compte|mot de passe|offre d emploi|candidature*|lettre d information|desabonner|
		desinscription|publicite|regie publicitaire|kit media|adhesion`},

	// German
	{"de", strongCue, `presseanfrage*|medienanfrage*|journalistenanfrage*|rechercheanfrage*|anfrage der presse|
		sperrfrist|bitte um stellungnahme|redaktionelle anfrage`},
	{"de", mediumCue, `interviewanfrage*|interview anfrage|anfrage fur ein interview|interviewwunsch|
		stellungnahme|fur einen artikel|fur einen beitrag|artikel uber|beitrag uber|bericht uber|
		redaktionsschluss|redaktion*|recherche zu`},
	{"de", weakCue, `artikel|beitrag|frist|presse|medien|recherche|zitat`},
	{"de", neutralCue, `pressemitteilung*|pressemeldung*|pressekonferenz*|pressespiegel|pressemappe|
		soziale medien`},
	{"de", counterCue, `vorstellungsgesprach*|bewerbung*|rechnung*|abonnement|abo|zahlung*|ihr konto|passwort|
		kundigung|stellenangebot*|anzeige|anzeigen|mediadaten|werbung|werbekunde*|
		mitgliedschaft`},

	// Portuguese
	{"pt", strongCue, `pedido de imprensa|solicitacao de imprensa|consulta de imprensa|demanda de imprensa|
		jornalista*|pedido de comentario|solicitacao de comentario|sob embargo`},
	{"pt", mediumCue, `pedido de entrevista|solicitacao de entrevista|para uma reportagem|reportagem sobre|
		materia sobre|artigo sobre|posicionamento|pedido de nota`},
	{"pt", weakCue, `fechamento|reportagem|materia|prazo|imprensa|midia|artigo`},
	{"pt", neutralCue, `assessoria de imprensa|release de imprensa|comunicado a imprensa|comunicado de imprensa|
		coletiva de imprensa|redes sociais|posicionamento de marca`},
	{"pt", counterCue, `entrevista de emprego|fatura*|nota fiscal|assinatura|pagamento|sua conta|senha|vaga|
		vagas|curriculo|boleto|publicidade|anuncie|midia kit`},

	// Italian
	{"it", strongCue, `richiesta stampa|richiesta dalla stampa|richiesta di commento|giornalista*|
		sotto embargo|richiesta media`},
	{"it", mediumCue, `richiesta di intervista|richiesta intervista|per un articolo|articolo su|servizio su|
		inchiesta su|dichiarazione*|redazione`},
	{"it", weakCue, `intervista*|articolo|scadenza|stampa|commento`},
	{"it", neutralCue, `comunicato stampa|comunicati stampa|conferenza stampa|rassegna stampa|cartella stampa|dichiarazione dei redditi`},
	{"it", counterCue, `colloquio di lavoro|fattura*|abbonamento*|pagamento|il tuo account|candidatura*|
		offerta di lavoro|pubblicita|inserzione|inserzioni`},

	// Dutch
	{"nl", strongCue, `persvraag*|persverzoek*|mediaverzoek*|media verzoek|verzoek om commentaar|
		verzoek om reactie|onder embargo|wederhoor`},
	{"nl", mediumCue, `interviewverzoek*|verzoek om interview|verzoek om een interview|interview verzoek|
		voor een artikel|artikel over|reportage over|reactie gevraagd|redactie`},
	{"nl", weakCue, `pers|reactie`},
	{"nl", neutralCue, `persbericht*|persconferentie|sociale media|perskit`},
	{"nl", counterCue, `sollicitatie*|factuur*|betaling|uw account|wachtwoord|vacature*|nieuwsbrief|adverteren|advertentie*|lidmaatschap`},

	// Swedish, Danish, Norwegian
	{"sv", strongCue, `pressforfragan*|mediaforfragan*|begaran om kommentar`},
	{"sv", mediumCue, `intervjuforfragan*|artikel om|reportage om`},
	{"sv", weakCue, `intervju*`},
	{"sv", neutralCue, `pressmeddelande*|presskonferens`},
	{"sv", counterCue, `faktura*|prenumeration*|jobbintervju|ansokan`},
	{"da", strongCue, `presseforesporgsel*|medieforesporgsel*`},
	{"da", mediumCue, `interviewforesporgsel*`},
	{"da", neutralCue, `pressemeddelelse*`},
	{"no", strongCue, `pressehenvendelse*|medieforesporsel*`},
	{"no", mediumCue, `intervjuforesporsel*|artikkel om`},
	{"no", neutralCue, `pressemelding*`},

	// Polish
	{"pl", strongCue, `zapytanie prasowe|zapytania prasowe|dziennikarz*|prosba o komentarz`},
	{"pl", mediumCue, `prosba o wywiad|prosba o rozmowe|artykul o|material o`},
	{"pl", weakCue, `wywiad*|artykul|komentarz`},
	{"pl", neutralCue, `informacja prasowa|komunikat prasowy|konferencja prasowa`},
	{"pl", counterCue, `rozmowa kwalifikacyjna|subskrypcja|haslo`},

	// Russian
	{"ru", strongCue, `запрос сми|запрос от сми|журналист*|просьба прокомментировать|запрос комментария|
		запрос на комментарий|эмбарго`},
	{"ru", mediumCue, `просьба об интервью|запрос на интервью|запрос интервью|статья о|статья про|материал о`},
	{"ru", weakCue, `интервью|статья|статью|комментари*|дедлайн|сми`},
	{"ru", neutralCue, `пресс релиз|пресс конференция`},
	{"ru", counterCue, `собеседование|подписка|пароль|счет на оплату`},

	// Turkish
	{"tr", strongCue, `gazeteci*|basin talebi|yorum talebi|basin sorusu`},
	{"tr", mediumCue, `roportaj talebi|roportaj istegi`},
	{"tr", weakCue, `roportaj*|haber`},
	{"tr", neutralCue, `basin bulteni|basin toplantisi`},
	{"tr", counterCue, `is gorusmesi|fatura*|abonelik`},

	// Japanese
	{"ja", strongCue, `取材依頼|取材のお願い|取材申し込み|取材申込|記者|報道機関|解禁日時|解禁日`},
	{"ja", mediumCue, `取材|インタビュー依頼|インタビューのお願い|コメント依頼|コメントのお願い|掲載`},
	{"ja", weakCue, `インタビュー|締め切り|締切|記事|メディア`},
	{"ja", neutralCue, `広告掲載|記者会見|プレスリリース|ニュースリリース`},
	{"ja", counterCue, `請求書|面接|採用|パスワード|購読|メールマガジン|メルマガ`},

	// Chinese (simplified and traditional)
	{"zh", strongCue, `采访请求|採訪請求|采访邀请|採訪邀請|媒体采访|媒體採訪|记者|置评|置評|媒体查询|媒體查詢|
		传媒查询|傳媒查詢|禁发|禁發`},
	{"zh", mediumCue, `采访|採訪|专访|專訪`},
	{"zh", weakCue, `截稿|报道|報導|报导|文章|媒体|媒體`},
	{"zh", neutralCue, `记者会|記者會|新闻发布会|新聞發布會|新闻稿|新聞稿`},
	{"zh", counterCue, `发票|發票|面试|面試|订阅|訂閱|密码|密碼|招聘`},

	// Korean
	{"ko", strongCue, `취재 요청|취재요청|기자|엠바고|언론 문의|보도 문의`},
	{"ko", mediumCue, `인터뷰 요청|인터뷰요청|코멘트 요청|취재`},
	{"ko", weakCue, `인터뷰|기사|마감`},
	{"ko", neutralCue, `기자회견|보도자료|기자재`},
	{"ko", counterCue, `면접|청구서|구독|비밀번호|채용`},

	// Arabic
	{"ar", strongCue, `صحفي|طلب تعليق|استفسار إعلامي|طلب إعلامي`},
	{"ar", mediumCue, `طلب مقابلة`},
	{"ar", weakCue, `مقابلة|مقال|تقرير`},
	{"ar", neutralCue, `مؤتمر صحفي|بيان صحفي`},
	{"ar", counterCue, `فاتورة|اشتراك|مقابلة عمل|كلمة المرور`},
}
